/**
 * Production safety, secrets and tokens: serverless.yml ships no secret, a stage with no way to verify tokens refuses
 * to start and says what to set, the emulator resolves ${ssm:…} offline and says where it looked, and tokens need an
 * expiry, a bounded lifetime and (where configured, always with a JWKS) the right issuer and audience.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { parse } from 'yaml';
import { loadServerlessConfig } from '../harness/config/serverless.js';
import { readConfig, type AuthConfig } from '../src/config/env.js';
import { verifyToken } from '../src/auth/tokens.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const serverlessFile = join(root, 'serverless.yml');
const tables = { PARTNERS_TABLE: 'p', WEBSOCKET_CONNECTIONS_TABLE: 'c', CACHE_TABLE: 'k' };

describe('secrets: serverless.yml and the emulator', () => {
  it('serverless.yml holds no secret literal: JWT_SECRET comes from SSM, the JWKS settings are passed through', () => {
    const text = readFileSync(serverlessFile, 'utf8');
    const environment = (parse(text) as { provider: { environment: Record<string, string> } }).provider.environment;
    expect(environment.JWT_SECRET).toBe("${ssm:/perkup/${sls:stage}/jwt-secret, ''}");
    for (const name of ['JWT_JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE']) expect(environment[name]).toBe(`\${env:${name}, ''}`);
    const developmentSecret = (JSON.parse(readFileSync(join(root, 'emulator.ssm-parameters.json'), 'utf8')) as Record<string, string>)[
      '/perkup/dev/jwt-secret'
    ];
    expect(developmentSecret).toBeTruthy();
    expect(text).not.toContain(developmentSecret);
  });

  it('a stage with neither a JWKS nor an SSM secret resolves, warns where it looked, and its functions refuse to start naming what to set', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const app = loadServerlessConfig(serverlessFile, { stage: 'prod', env: {}, refs: () => 'api' });
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('SSM parameter /perkup/prod/jwt-secret not found offline; looked in'));
      expect(warn.mock.calls[0][0]).toContain(join(root, 'emulator.ssm-parameters.json'));
      const env = app.functions.find((f) => f.name === 'graphql')!.environment;
      expect(env.JWT_SECRET).toBe('');
      expect(() => readConfig(env)).toThrow(
        /set JWT_JWKS_URL with JWT_ISSUER and JWT_AUDIENCE, or JWT_SECRET \(serverless.yml reads it from the SSM parameter \/perkup\/<stage>\/jwt-secret/,
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('the dev stage gets the development secret from the shipped parameters file; a JWKS stage gets its settings', () => {
    const dev = loadServerlessConfig(serverlessFile, { stage: 'dev', env: {}, refs: () => 'api' });
    const shipped = JSON.parse(readFileSync(join(root, 'emulator.ssm-parameters.json'), 'utf8')) as Record<string, string>;
    expect(dev.functions[0].environment.JWT_SECRET).toBe(shipped['/perkup/dev/jwt-secret']);
    expect(readConfig(dev.functions[0].environment).auth.kind).toBe('hs256');

    const jwksEnv = {
      JWT_JWKS_URL: 'https://id.example.com/.well-known/jwks.json',
      JWT_ISSUER: 'https://id.example.com/',
      JWT_AUDIENCE: 'perkup',
    };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const prod = loadServerlessConfig(serverlessFile, { stage: 'prod', env: jwksEnv, refs: () => 'api' });
      expect(readConfig(prod.functions[0].environment).auth).toMatchObject({
        kind: 'jwks',
        issuer: 'https://id.example.com/',
        audience: 'perkup',
      });
    } finally {
      warn.mockRestore();
    }
  });

  it('${ssm:…} with no default and no value is an error naming every file looked in; a personal file overrides the shipped one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssm-'));
    writeFileSync(join(dir, 'handler.ts'), 'export const handler = async () => ({});');
    writeFileSync(
      join(dir, 'serverless.yml'),
      'service: s\nprovider:\n  name: aws\n  environment:\n    SECRET: ${ssm:/s/${sls:stage}/secret}\nfunctions:\n  f:\n    handler: handler.handler\ncustom:\n  emulator:\n    ssmParameters: params.json\n',
    );
    expect(() => loadServerlessConfig(join(dir, 'serverless.yml'), { stage: 'dev', env: {} })).toThrow(
      `SSM parameter /s/dev/secret not found offline; looked in ${join(dir, '.emulator/ssm-parameters.json')} (no such file), ${join(dir, 'params.json')} (no such file)`,
    );
    writeFileSync(join(dir, 'params.json'), JSON.stringify({ '/s/dev/secret': 'shipped' }));
    expect(loadServerlessConfig(join(dir, 'serverless.yml'), { stage: 'dev', env: {} }).functions[0].environment.SECRET).toBe('shipped');
    mkdirSync(join(dir, '.emulator'));
    writeFileSync(join(dir, '.emulator/ssm-parameters.json'), JSON.stringify({ '/s/dev/secret': 'mine' }));
    expect(loadServerlessConfig(join(dir, 'serverless.yml'), { stage: 'dev', env: {} }).functions[0].environment.SECRET).toBe('mine');
    writeFileSync(join(dir, 'params.json'), JSON.stringify({ '/s/dev/secret': 42 }));
    expect(() => loadServerlessConfig(join(dir, 'serverless.yml'), { stage: 'dev', env: {} })).toThrow(
      'parameter /s/dev/secret must be a string, got 42',
    );
  });

  it('npm run token signs with the secret the emulator gives the dev stage', async () => {
    const env = { ...process.env };
    delete env.JWT_SECRET;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/tools/mintToken.ts', '--sub', 'alice', '--role', 'admin'],
      { cwd: root, env },
    );
    const dev = loadServerlessConfig(serverlessFile, { stage: 'dev', env: {}, refs: () => 'api' });
    expect(await verifyToken(stdout.trim(), readConfig(dev.functions[0].environment).auth)).toEqual({ userId: 'alice', role: 'admin' });
  });
});

describe('configuration of token verification', () => {
  it('a JWKS needs an issuer and an audience', () => {
    expect(() => readConfig({ ...tables, JWT_JWKS_URL: 'https://id.example.com/jwks' })).toThrow(
      'JWT_JWKS_URL is set, so JWT_ISSUER and JWT_AUDIENCE must be set too',
    );
    expect(() => readConfig({ ...tables, JWT_JWKS_URL: 'https://id.example.com/jwks', JWT_ISSUER: 'i' })).toThrow(
      'so JWT_AUDIENCE must be set too',
    );
  });
  it('a JWKS is fetched over https (plain http only from this machine)', () => {
    expect(() => readConfig({ ...tables, JWT_JWKS_URL: 'http://id.example.com/jwks', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' })).toThrow(
      'JWT_JWKS_URL must be https',
    );
  });
  it('clock skew is bounded and the lifetime cap is configurable with a 24 h default', () => {
    expect(() => readConfig({ ...tables, JWT_SECRET: 's', JWT_CLOCK_SKEW_SECONDS: '3600' })).toThrow(
      'JWT_CLOCK_SKEW_SECONDS must be at most 300',
    );
    expect(readConfig({ ...tables, JWT_SECRET: 's' }).auth).toMatchObject({ maxLifetimeSeconds: 86_400, clockSkewSeconds: 30 });
    expect(readConfig({ ...tables, JWT_SECRET: 's', JWT_MAX_LIFETIME_SECONDS: '3600' }).auth.maxLifetimeSeconds).toBe(3600);
  });
});

describe('tokens', () => {
  const secret = 'token-test-secret';
  const auth = readConfig({ ...tables, JWT_SECRET: secret, JWT_MAX_LIFETIME_SECONDS: '3600' }).auth;
  const key = new TextEncoder().encode(secret);
  const nowS = () => Math.floor(Date.now() / 1000);
  const hs = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key);

  it('a token without exp is refused', async () => {
    await expect(verifyToken(await hs({ sub: 'a', role: 'admin', iat: nowS() }), auth)).rejects.toThrow(/"exp" claim/);
  });
  it('a token valid for longer than the maximum lifetime is refused, even with a back-dated iat or none', async () => {
    await expect(verifyToken(await hs({ sub: 'a', role: 'admin', iat: nowS(), exp: nowS() + 7200 }), auth)).rejects.toThrow(
      'maximum lifetime of 3600 s',
    );
    await expect(verifyToken(await hs({ sub: 'a', role: 'admin', exp: nowS() + 7200 }), auth)).rejects.toThrow(
      'maximum lifetime of 3600 s',
    );
    await expect(verifyToken(await hs({ sub: 'a', role: 'admin', iat: nowS() - 7000, exp: nowS() + 600 }), auth)).rejects.toThrow(
      '(exp − iat) exceeds the maximum of 3600 s',
    );
    await expect(verifyToken(await hs({ sub: 'a', role: 'admin', iat: nowS(), exp: nowS() + 3000 }), auth)).resolves.toEqual({
      userId: 'a',
      role: 'admin',
    });
  });
  it('clock skew is tolerated up to the configured bound only', async () => {
    const token = await hs({ sub: 'a', role: 'user', iat: nowS() - 100, exp: nowS() - 10 });
    await expect(verifyToken(token, auth)).resolves.toEqual({ userId: 'a', role: 'user' });
    await expect(verifyToken(token, auth, () => Date.now() + 60_000)).rejects.toThrow('The token has expired');
    const future = await hs({ sub: 'a', role: 'user', nbf: nowS() + 120, exp: nowS() + 600 });
    await expect(verifyToken(future, auth)).rejects.toThrow(/"nbf" claim/);
  });
  it('iss and aud are checked where configured', async () => {
    const strict: AuthConfig = { ...auth, issuer: 'https://issuer.example/', audience: 'perkup' };
    const claims = { sub: 'a', role: 'user', iat: nowS(), exp: nowS() + 60 };
    await expect(verifyToken(await hs(claims), strict)).rejects.toThrow(/"iss" claim/);
    await expect(verifyToken(await hs({ ...claims, iss: 'https://issuer.example/', aud: 'other' }), strict)).rejects.toThrow(/"aud" claim/);
    await expect(verifyToken(await hs({ ...claims, iss: 'https://issuer.example/', aud: 'perkup' }), strict)).resolves.toEqual({
      userId: 'a',
      role: 'user',
    });
  });

  describe('with a JWKS', () => {
    let server: Server;
    let jwksAuth: AuthConfig;
    let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
    beforeAll(async () => {
      const pair = await generateKeyPair('RS256');
      privateKey = pair.privateKey;
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
      server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
      jwksAuth = readConfig({ ...tables, JWT_JWKS_URL: url, JWT_ISSUER: 'https://id.example/', JWT_AUDIENCE: 'perkup' }).auth;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const rs = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(privateKey);

    it('accepts a token of the configured issuer and audience, refuses one without them', async () => {
      const claims = { sub: 'a', role: 'admin', iat: nowS(), exp: nowS() + 300 };
      await expect(verifyToken(await rs({ ...claims, iss: 'https://id.example/', aud: 'perkup' }), jwksAuth)).resolves.toEqual({
        userId: 'a',
        role: 'admin',
      });
      await expect(verifyToken(await rs(claims), jwksAuth)).rejects.toThrow(/"iss" claim/);
      await expect(verifyToken(await rs({ ...claims, iss: 'https://id.example/' }), jwksAuth)).rejects.toThrow(/"aud" claim/);
      await expect(verifyToken(await rs({ sub: 'a', role: 'admin', iss: 'https://id.example/', aud: 'perkup' }), jwksAuth)).rejects.toThrow(
        /"exp" claim/,
      );
    });
  });
});
