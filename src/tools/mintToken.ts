/**
 * Mints a development token: `npm run token -- --sub alice --role admin [--expires 12h] [--stage dev]`.
 * Signs with JWT_SECRET (HS256) when set, else with the secret the emulator gives the stage's functions: the SSM
 * parameter /perkup/<stage>/jwt-secret from the emulator's local parameters files (`.emulator/ssm-parameters.json`,
 * then the file serverless.yml's custom.emulator.ssmParameters names). Never use it for production tokens.
 * (A development tool: it reads those files itself because src/ does not import the emulator.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { ROLES, signDevelopmentToken, type Role } from '../auth/tokens.js';

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: 'dev-user' },
    role: { type: 'string', default: 'user' },
    expires: { type: 'string', default: '12h' },
    stage: { type: 'string', default: 'dev' },
  },
  strict: true,
});

if (!ROLES.includes(values.role as Role)) {
  console.error(`--role must be one of ${ROLES.join(', ')}, got "${values.role}"`);
  process.exit(2);
}

function emulatorSecret(stage: string): string | undefined {
  const name = `/perkup/${stage}/jwt-secret`;
  const serverless = parse(readFileSync(resolve('serverless.yml'), 'utf8')) as { custom?: { emulator?: { ssmParameters?: string } } };
  const shipped = serverless.custom?.emulator?.ssmParameters;
  const files = [resolve('.emulator/ssm-parameters.json'), ...(shipped ? [resolve(shipped)] : [])];
  for (const file of files) {
    if (!existsSync(file)) continue;
    const value = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)[name];
    if (typeof value === 'string' && value) return value;
  }
  console.error(`No JWT_SECRET and no ${name} in ${files.join(' or ')}: set JWT_SECRET or add the parameter`);
  return undefined;
}

const secret = process.env.JWT_SECRET || emulatorSecret(values.stage!);
if (!secret) process.exit(2);
console.log(await signDevelopmentToken({ sub: values.sub!, role: values.role as Role }, secret, values.expires));
