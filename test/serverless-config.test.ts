import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadServerlessConfig } from '../harness/config/serverless.js';

const perkupFile = fileURLToPath(new URL('../serverless.yml', import.meta.url));

describe('serverless.yml, as the emulator reads it', () => {
  it("resolves PerkUp's variables and intrinsics into each function's environment", () => {
    const app = loadServerlessConfig(perkupFile, { stage: 'ci', env: { JWT_JWKS_URL: 'https://id.example/jwks' }, refs: (id) => (id === 'WebsocketsApi' ? 'ws123' : undefined) });
    expect(app).toMatchObject({ service: 'perkup', stage: 'ci', region: 'eu-west-3', runtime: 'nodejs22.x', websocketRouteSelectionExpression: '$request.body.action' });
    const graphql = app.functions.find((f) => f.name === 'graphql')!;
    expect(graphql).toMatchObject({ deployedName: 'perkup-ci-graphql', handlerExport: 'handler', timeoutSeconds: 15, memorySize: 512, httpApiEvents: [{ method: 'POST', path: '/graphql' }] });
    expect(graphql.handlerFile).toMatch(/src\/handlers\/graphql\.ts$/);
    expect(graphql.environment).toMatchObject({
      PARTNERS_TABLE: 'perkup-ci-partners',
      WEBSOCKET_CONNECTIONS_TABLE: 'perkup-ci-connections',
      JWT_JWKS_URL: 'https://id.example/jwks',
      WEBSOCKET_API_ENDPOINT: 'https://ws123.execute-api.eu-west-3.amazonaws.com/ci',
    });
    expect(app.functions.find((f) => f.name === 'websocket')!.websocketEvents.map((e) => e.route)).toEqual(['$connect', '$disconnect', '$default']);
    expect(app.tables.map((t) => t.TableName)).toEqual(['perkup-ci-partners', 'perkup-ci-connections', 'perkup-ci-cache']);
    expect(app.tables.find((t) => t.logicalId === 'ConnectionsTable')!.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
  });

  it('uses defaults when variables have none to resolve', () => {
    const app = loadServerlessConfig(perkupFile, { env: {}, refs: () => 'x' });
    expect(app.stage).toBe('dev');
    expect(app.functions[0].environment.JWT_SECRET).toBe('perkup-dev-secret-change-me');
  });

  it('a variable with no value and no default is a clear error naming it', () => {
    const file = fileURLToPath(new URL('./fixtures/bad-config/unresolvable.yml', import.meta.url));
    expect(() => loadServerlessConfig(file, { env: {} })).toThrow('cannot resolve ${env:SURELY_NOT_SET_ANYWHERE} (no value and no default)');
  });

  it('an unresolvable Ref is a clear error', () => {
    expect(() => loadServerlessConfig(perkupFile, { env: {} })).toThrow(/cannot resolve Ref WebsocketsApi/);
  });
});
