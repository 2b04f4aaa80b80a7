// Child process for hub-download-kill.test.ts: downloads REPO from the mock hub at ENDPOINT into
// CACHE (killed by the test's preload after some file-system change), then prints the snapshot.
import { downloadHubSnapshot } from '../src/index.js';

const [repo, endpoint, cache] = process.argv.slice(2);
const snapshot = await downloadHubSnapshot(repo!, { env: { HF_HUB_CACHE: cache, HF_ENDPOINT: endpoint, HOME: cache } });
console.log(snapshot);
