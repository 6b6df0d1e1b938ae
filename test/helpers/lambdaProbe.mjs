// Loads one packaged Lambda bundle the way the nodejs22.x runtime does — a plain Node process (no vitest, no tsx),
// the function's own environment, cwd at the unzipped package, `import()` of the handler file — and invokes it
// with the events the parent sends over IPC. Plain JavaScript on purpose: nothing may transform the bundle.
import { pathToFileURL } from 'node:url';

const [file, exportName, functionName] = process.argv.slice(2);
// The function's own timeout (the template's Timeout), as its context counts it down; 10 s when not given.
const timeoutMs = Number(process.argv[5] ?? 10_000);
let handler;
try {
  const module = await import(pathToFileURL(file).href);
  handler = module[exportName];
  process.send({ type: 'loaded', exportType: typeof handler, exports: Object.keys(module) });
} catch (error) {
  process.send({ type: 'loadError', message: String(error?.stack ?? error) });
  process.exit(1);
}

let invocation = 0;
process.on('message', async (event) => {
  invocation += 1;
  const started = Date.now();
  // The context fields a Node handler may read, as the runtime provides them.
  const context = {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: `probe-${invocation}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'probe',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
  };
  try {
    process.send({ type: 'result', result: await handler(event, context) });
  } catch (error) {
    process.send({ type: 'error', message: String(error?.stack ?? error) });
  }
});
