// Runs verdaccio for local-registry.mjs in its own process: `node serve.mjs <verdaccio entry>
// <storage folder>`. Prints `listening <url>` once it accepts connections; stops on SIGTERM.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, dir] = process.argv.slice(2);
const { runServer } = await import(pathToFileURL(entry).href);
const app = await runServer({
  self_path: dir,
  storage: join(dir, 'storage'),
  auth: { htpasswd: { file: join(dir, 'htpasswd'), max_users: 1 } },
  uplinks: {},
  packages: { '@mlxn/*': { access: '$all', publish: '$authenticated' } },
  log: { type: 'stdout', format: 'pretty', level: 'error' },
  max_body_size: '200mb',
});
const server = app.listen(0, '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port}/`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
