// Entry of a Lambda "container" (a worker thread). Plain JavaScript because a worker starts without TypeScript
// support: register tsx first, then load the TypeScript runtime shim and, through it, the handler.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

if (workerData.nativeHandler) {
  // A packaged bundle is plain JavaScript, loaded by Node itself as Lambda loads it: through tsx, a multi-MB bundle
  // takes seconds more to import. tsx is scoped to the runtime shim (and what it imports); the handler is imported
  // from here, outside that scope.
  const tsx = register({ namespace: 'lambda-container' });
  globalThis.__lambdaContainerImport = (url) => import(url);
  await tsx.import('./runtime.ts', import.meta.url);
} else {
  register();
  await import('./runtime.ts');
}
