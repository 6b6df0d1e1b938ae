// `npm run emulate`'s entry: runs harness/cli/emulate.ts from a precompiled bundle (harness/common/precompile.mjs),
// rebuilt when a source changes, with node's compile cache on; tsx only when the bundle cannot be made. Plain
// JavaScript because it runs before any TypeScript support. Start-up is what this saves: under tsx every module
// the emulator loads (the AWS SDK, dynalite, yaml…) went through loader hooks on another thread.
import { fileURLToPath } from 'node:url';
import { runEntry } from '../common/precompile.mjs';

// No source maps here: enabling them made node index every loaded module's source (~15% of the start-up). The
// containers keep them, for handlers' stack traces.
await runEntry(fileURLToPath(new URL('./emulate.ts', import.meta.url)));
