// `npm run scenarios`'s entry: runs harness/scenarios/cli.ts from a precompiled bundle (harness/common/precompile.mjs),
// rebuilt when a source changes, with node's compile cache on; tsx only when the bundle cannot be made. Plain
// JavaScript because it runs before any TypeScript support. Under `tsx cli.ts` (or `node --import tsx`) every module
// went through tsx's hooks, and so did every module of every Lambda container: worker threads inherit the process's
// --import/--require flags, so each cold start loaded the AWS SDK through tsx too (about twice the CPU of a cold start
// without it, the precompiled path harness/lambda/container.mjs is written for).
import { fileURLToPath } from 'node:url';
import { runEntry } from '../common/precompile.mjs';

await runEntry(fileURLToPath(new URL('./cli.ts', import.meta.url)));
