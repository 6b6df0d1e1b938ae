// Entry of a Lambda "container" (a worker thread). Plain JavaScript because a worker starts without TypeScript
// support. The runtime shim and the handler load as precompiled bundles when both can be (see
// harness/common/precompile.mjs: a cold start without tsx's loader hooks is about twice as fast); a packaged handler
// (--package) is plain JavaScript that Node imports itself, as Lambda does; otherwise tsx is registered and the
// TypeScript sources load as they are.
import module from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { workerData } from 'node:worker_threads';
import { precompiled } from '../common/precompile.mjs';

// Compiled code of the packages (the AWS SDK, Apollo…) is cached on disk across cold starts, as bytecode.
module.enableCompileCache?.();
const runtime = await precompiled(fileURLToPath(new URL('./runtime.ts', import.meta.url)));
// Through tsx, a multi-MB packaged bundle takes seconds more to import: it is never precompiled nor transpiled.
const handler = workerData.nativeHandler ? workerData.handlerFile : runtime && (await precompiled(workerData.handlerFile));
if (runtime && handler) {
  // Source maps stay off unless asked for (NODE_OPTIONS=--enable-source-maps maps stack traces back to the sources),
  // as for the deployed bundle on Lambda: turned on here, indexing every loaded module took ~13% of a cold start.
  workerData.handlerModule = handler;
  await import(pathToFileURL(runtime).href);
} else if (workerData.nativeHandler) {
  // tsx scoped to the runtime shim (and what it imports); the packaged handler is imported from here, outside it.
  const { register } = await import('tsx/esm/api');
  const tsx = register({ namespace: 'lambda-container' });
  globalThis.__lambdaContainerImport = (url) => import(url);
  await tsx.import('./runtime.ts', import.meta.url);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./runtime.ts');
}
