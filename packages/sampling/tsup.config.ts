import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.js';

// `js` never imports the native binary: it shares no chunk with @mlxn/core, which stays external.
export default defineConfig(packageBuild({ entry: { index: 'src/index.ts', js: 'src/js/index.ts' } }));
