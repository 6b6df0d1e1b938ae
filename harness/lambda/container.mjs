// Entry of a Lambda "container" (a worker thread). Plain JavaScript because a worker starts without TypeScript
// support: register tsx first, then load the TypeScript runtime shim and, through it, the handler.
import { register } from 'tsx/esm/api';

register();
await import('./runtime.ts');
