/**
 * The only "AWS" offline packaging talks to: a loopback server the SDK's endpoint (AWS_ENDPOINT_URL) points at.
 * `${ssm:…}` variables are answered as Parameter Store's GetParameter answers, from the emulator's local parameter
 * files (`.emulator/ssm-parameters.json`, then `custom.emulator.ssmParameters`), so the package resolves what the
 * emulator resolves; a parameter in neither is ParameterNotFound (the variable's default applies, as on AWS).
 * Any other AWS call is refused and recorded, and packaging fails on it: `package` must need nothing else.
 * `serverless deploy` reads the real Parameter Store instead.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { localSsmParameters } from '../harness/config/ssmParameters.js';

export interface OfflineAws {
  endpoint: string;
  /** Parameters served, and where each came from ("not found" when neither file has it). */
  ssm: Array<{ name: string; found: boolean }>;
  /** AWS calls that were refused (anything but SSM GetParameter): each one is a reason to fail. */
  refused: string[];
  close(): Promise<void>;
}

export async function startOfflineAws(root: string): Promise<OfflineAws> {
  const doc = parse(readFileSync(join(root, 'serverless.yml'), 'utf8')) as { custom?: { emulator?: { ssmParameters?: unknown } } };
  // Warnings are not printed here: a missing parameter is reported once, in the packaging summary.
  const parameters = localSsmParameters(root, doc.custom?.emulator?.ssmParameters, () => undefined);
  const ssm: OfflineAws['ssm'] = [];
  const refused: string[] = [];

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const json = (status: number, body: unknown): void => {
        res
          .writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'offline-packaging' })
          .end(JSON.stringify(body));
      };
      if (target === 'AmazonSSM.GetParameter') {
        const { Name } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { Name?: string };
        const value = Name ? parameters.get(Name, true) : undefined;
        ssm.push({ name: String(Name), found: value !== undefined });
        if (value === undefined) return json(400, { __type: 'ParameterNotFound', message: '' });
        return json(200, {
          Parameter: {
            Name,
            Type: 'SecureString',
            Value: value,
            Version: 1,
            DataType: 'text',
            ARN: `arn:aws:ssm:offline:000000000000:parameter${Name}`,
          },
        });
      }
      const call = target || `${req.method} ${req.headers.host ?? ''}${req.url ?? ''}`;
      refused.push(call);
      json(400, { __type: 'OfflinePackaging', message: `npm run package is offline and does not call AWS (${call})` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ssm,
    refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
