/**
 * Tokens for a deployed stage come from a command the user gives (`--token-command`), since only the stage's
 * identity provider (or its secret) can make them. The command runs through the shell with `{role}` and `{sub}`
 * replaced by the scenario client's claims (shell-quoted) and SCENARIO_ROLE / SCENARIO_SUB set; its last line of
 * output is the token. It runs once per role, and once per client too when it uses the sub ({sub} or
 * SCENARIO_SUB): without, one admin and one member account of the identity provider serve every client.
 */
import { execFile } from 'node:child_process';
import { StageError } from './outputs.js';

const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

export function tokenCommand(template: string): (claims: Record<string, unknown>) => Promise<string> {
  const cache = new Map<string, Promise<string>>();
  const usesSub = template.includes('{sub}') || template.includes('SCENARIO_SUB');
  return (claims) => {
    const role = String(claims.role ?? '');
    const sub = String(claims.sub ?? '');
    const command = template.replaceAll('{role}', quote(role)).replaceAll('{sub}', quote(sub));
    const key = JSON.stringify([role, usesSub ? sub : '']);
    let token = cache.get(key);
    if (!token) {
      token = new Promise<string>((resolve, reject) => {
        execFile(
          '/bin/sh',
          ['-c', command],
          { env: { ...process.env, SCENARIO_ROLE: role, SCENARIO_SUB: sub }, timeout: 60_000, maxBuffer: 1024 * 1024 },
          (error, stdout, stderr) => {
            const last = stdout.trim().split('\n').at(-1)?.trim() ?? '';
            if (error) return reject(new StageError(`--token-command failed for role ${role} (${command}): ${error.message}\n${stderr}`));
            if (!last) return reject(new StageError(`--token-command printed no token for role ${role} (${command})\n${stderr}`));
            resolve(last);
          },
        );
      });
      cache.set(key, token);
    }
    return token;
  };
}
