/**
 * Lambda containers do not inherit tsx from the process that runs the emulator (`node --import tsx`, `tsx …`):
 * worker threads inherit the node options, and under tsx's hooks every cold start loaded the AWS SDK through them.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { containerExecArgv } from '../harness/lambda/invoker.js';

const repo = fileURLToPath(new URL('..', import.meta.url));

describe('containerExecArgv', () => {
  it('drops the flags that load tsx, and only those', () => {
    expect(containerExecArgv(['--import', 'tsx', '--cpu-prof'])).toEqual(['--cpu-prof']);
    expect(containerExecArgv(['--import=tsx', '--max-old-space-size=512'])).toEqual(['--max-old-space-size=512']);
    // What the tsx CLI puts there.
    expect(
      containerExecArgv([
        '--require',
        '/w/node_modules/tsx/dist/preflight.cjs',
        '--import',
        'file:///w/node_modules/tsx/dist/loader.mjs',
        '--enable-source-maps',
      ]),
    ).toEqual(['--enable-source-maps']);
    expect(containerExecArgv(['--import', './otel.mjs', '--import', 'tsx/esm'])).toEqual(['--import', './otel.mjs']);
    // Nothing of tsx: undefined, the worker inherits the process's options as before.
    expect(containerExecArgv(['--import', './otel.mjs'])).toBeUndefined();
    expect(containerExecArgv([])).toBeUndefined();
  });

  it('a container started under node --import tsx runs without it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'container-execargv-'));
    writeFileSync(join(dir, 'handler.mjs'), 'export const handler = async () => process.execArgv;\n');
    const script = join(dir, 'run.mts');
    writeFileSync(
      script,
      `import { createLambdaInvoker } from ${JSON.stringify(pathToFileURL(join(repo, 'harness/lambda/invoker.ts')).href)};
const invoker = createLambdaInvoker({
  functions: [{ name: 'f', deployedName: 'f', handlerFile: ${JSON.stringify(join(dir, 'handler.mjs'))}, handlerExport: 'handler',
    timeoutSeconds: 30, memorySize: 128, environment: {}, httpApiEvents: [], websocketEvents: [], streamEvents: [], sqsEvents: [] }],
});
const result = await invoker.invoke('f', {}, 'test');
await invoker.close();
console.log(JSON.stringify({ parent: process.execArgv, container: result.ok ? result.value : result.error }));
`,
    );
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.once('error', reject);
      child.once('exit', () => resolve(text));
    });
    const { parent, container } = JSON.parse(out.trim().split('\n').at(-1)!) as { parent: string[]; container: unknown };
    expect(parent).toEqual(['--import', 'tsx']);
    expect(container).toEqual([]);
  }, 60_000);
});
