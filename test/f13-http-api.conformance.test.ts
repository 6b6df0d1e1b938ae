/**
 * F13 HTTP API: payload format 2.0 events for the function and its result mapped back, over real HTTP
 * (API Gateway developer guide, "Working with AWS Lambda proxy integrations for HTTP APIs").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startWsApp, type WsApp } from './helpers/wsFixture.js';
import { startEmulator } from '../harness/emulator.js';
import { corsConfiguration, preflightHeaders, responseHeaders } from '../harness/apiGateway/http/cors.js';
import { createHttpApi, HTTP_API_INTEGRATION_TIMEOUT_MS } from '../harness/apiGateway/http/api.js';
import { createLambdaInvoker } from '../harness/lambda/invoker.js';
import { loadServerlessConfig } from '../harness/config/serverless.js';

let app: WsApp;
beforeAll(async () => {
  app = await startWsApp();
});
afterAll(() => app.close());

describe('F13 HTTP API', () => {
  it('builds a payload 2.0 event: rawPath, rawQueryString, lower-cased headers, cookies, requestContext.http', async () => {
    const response = await fetch(`${app.emulator.httpUrl}/echo?a=1&b=2&a=3`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Mixed-Case': 'v', Cookie: 'session=abc; theme=dark', 'User-Agent': 'f13-test' },
      body: '{"q":1}',
    });
    expect(response.status).toBe(201);
    const event = (await response.json()) as Record<string, any>;
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /echo',
      rawPath: '/echo',
      rawQueryString: 'a=1&b=2&a=3',
      cookies: ['session=abc', 'theme=dark'],
      queryStringParameters: { a: '1,3', b: '2' },
      body: '{"q":1}',
      isBase64Encoded: false,
      requestContext: {
        accountId: '123456789012',
        http: { method: 'POST', path: '/echo', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'f13-test' },
        routeKey: 'POST /echo',
        stage: '$default',
        timeEpoch: expect.any(Number),
        time: expect.stringMatching(/^\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/),
      },
    });
    expect(event.headers).toMatchObject({ 'content-type': 'application/json', 'x-mixed-case': 'v' });
    expect(event.headers).not.toHaveProperty('cookie');
    expect(event.requestContext.domainName).toBe(`${event.requestContext.apiId}.execute-api.eu-west-1.amazonaws.com`);
  });

  it('path parameters, and a binary body arrives base64-encoded', async () => {
    const items = await fetch(`${app.emulator.httpUrl}/items/42`);
    expect(items.status).toBe(201);
    expect(((await items.json()) as Record<string, any>).pathParameters).toEqual({ id: '42' });
    const binary = await fetch(`${app.emulator.httpUrl}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array([0, 255, 1]),
    });
    const event = (await binary.json()) as Record<string, any>;
    expect(event).toMatchObject({ isBase64Encoded: true, body: Buffer.from([0, 255, 1]).toString('base64') });
  });

  it('maps the result back: status, headers, cookies → Set-Cookie, base64 bodies decoded', async () => {
    const echo = await fetch(`${app.emulator.httpUrl}/echo`, { method: 'POST', body: 'x' });
    expect(echo.status).toBe(201);
    expect(echo.headers.get('x-echo')).toBe('yes');
    expect(echo.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2']);
    const binary = await fetch(`${app.emulator.httpUrl}/binary`);
    expect(binary.headers.get('content-type')).toBe('application/octet-stream');
    expect([...new Uint8Array(await binary.arrayBuffer())]).toEqual([0, 1, 2, 255]);
  });

  it('a result without statusCode is a 200 JSON response of the whole result', async () => {
    const plain = await fetch(`${app.emulator.httpUrl}/plain`);
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toBe('application/json');
    expect(await plain.json()).toEqual({ hello: 'world' });
  });

  it('a throwing function → 500 {"message":"Internal Server Error"}; an unknown route → 404 {"message":"Not Found"}', async () => {
    const boom = await fetch(`${app.emulator.httpUrl}/boom`);
    expect(boom.status).toBe(500);
    expect(await boom.json()).toEqual({ message: 'Internal Server Error' });
    const missing = await fetch(`${app.emulator.httpUrl}/nowhere`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: 'Not Found' });
    const wrongMethod = await fetch(`${app.emulator.httpUrl}/plain`, { method: 'POST' });
    expect(wrongMethod.status).toBe(404);
  });

  it("a body over 10 MB is 413; an event over Lambda's 6 MB request quota is a 500 without invoking the function", async () => {
    const echoInvocations = () =>
      app.emulator.eventLog.tail(10_000).filter((e) => e.kind === 'invokeStart' && e.trigger === 'POST /echo').length;
    const post = (bytes: number) =>
      fetch(`${app.emulator.httpUrl}/echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'a'.repeat(bytes) });

    // The event's size beyond its body, measured on an event with a body of as many digits (its content-length).
    const sample = await post(6_000_000);
    expect(sample.status).toBe(201);
    const overhead = Buffer.byteLength(await sample.text()) - 6_000_000;
    const atQuota = 6_291_456 - overhead;

    const before = echoInvocations();
    const warnings = () => app.emulator.eventLog.tail(10_000).flatMap((e) => (e.kind === 'log' && e.level === 'WARN' ? [e.message] : []));
    // One byte over: refused by Lambda, never run. At the quota: run (its 6 MB echo is then too large an answer).
    expect((await post(atQuota + 1)).status).toBe(500);
    expect(echoInvocations()).toBe(before);
    expect(warnings()).toContainEqual(
      expect.stringContaining(
        "(POST /echo): the event is 6291457 bytes, over Lambda's 6291456-byte synchronous request quota; the function was not invoked",
      ),
    );
    await post(atQuota);
    expect(echoInvocations()).toBe(before + 1);
    // What counts is the event's JSON: 1.1 MB of control characters is 6.6 MB once escaped (\u0001), refused too.
    const escaped = await fetch(`${app.emulator.httpUrl}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '\u0001'.repeat(1_100_000),
    });
    expect(escaped.status).toBe(500);
    expect(echoInvocations()).toBe(before + 1);

    const tooLarge = await post(10 * 1024 * 1024 + 1);
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toEqual({ message: 'Request Entity Too Large' });
    expect(echoInvocations()).toBe(before + 1);
  });
});

describe('F19 HTTP API as configured: CORS from serverless.yml, AWS status mapping', () => {
  it('without provider.httpApi.cors nothing is added: OPTIONS is routed (404) and responses carry no CORS headers', async () => {
    const preflight = await fetch(`${app.emulator.httpUrl}/echo`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(404);
    expect(await preflight.json()).toEqual({ message: 'Not Found' });
    expect([...preflight.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual([]);
    const post = await fetch(`${app.emulator.httpUrl}/echo`, {
      method: 'POST',
      headers: { Origin: 'https://app.example', 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(post.status).toBe(201);
    expect([...post.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it("PerkUp's serverless.yml CORS: API Gateway answers the browser's preflight itself and adds the origin header to answers", async () => {
    const perkup = await startEmulator({ projectRoot: fileURLToPath(new URL('..', import.meta.url)), environment: { LOG_LEVEL: 'WARN' } });
    try {
      const preflight = await fetch(perkup.graphqlUrl, {
        method: 'OPTIONS',
        headers: {
          Origin: 'https://app.perkup.example',
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization,content-type',
        },
      });
      expect(preflight.status).toBe(204);
      expect(Object.fromEntries([...preflight.headers].filter(([h]) => h.startsWith('access-control-')))).toEqual({
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'POST,OPTIONS',
        'access-control-allow-headers': 'Content-Type,Authorization',
        'access-control-max-age': '600',
      });
      // No function ran for the preflight.
      expect(perkup.eventLog.all().filter((e) => e.kind === 'invoke')).toEqual([]);
      const query = await fetch(perkup.graphqlUrl, {
        method: 'POST',
        headers: { Origin: 'https://app.perkup.example', 'Content-Type': 'application/json' },
        body: '{"query":"{ __typename }"}',
      });
      expect(query.headers.get('access-control-allow-origin')).toBe('*');
      const withoutOrigin = await fetch(perkup.graphqlUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"query":"{ __typename }"}',
      });
      expect(withoutOrigin.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await perkup.close();
    }
  });

  it('cors: true takes the Serverless Framework defaults; the object form is read as written; bad values are refused', () => {
    expect(corsConfiguration(true, ['POST', 'GET'])).toEqual({
      allowOrigins: ['*'],
      allowHeaders: [
        'Content-Type',
        'X-Amz-Date',
        'Authorization',
        'X-Api-Key',
        'X-Amz-Security-Token',
        'X-Amz-User-Agent',
        'X-Amzn-Trace-Id',
      ],
      allowMethods: ['POST', 'GET', 'OPTIONS'],
      allowCredentials: false,
      exposeHeaders: [],
    });
    const object = corsConfiguration(
      {
        allowedOrigins: ['https://a.example', 'https://*.b.example'],
        allowCredentials: true,
        exposedResponseHeaders: ['X-Id'],
        maxAge: 60,
      },
      ['POST'],
    )!;
    expect(preflightHeaders(object, 'https://a.example')).toMatchObject({
      'access-control-allow-origin': 'https://a.example',
      'access-control-allow-credentials': 'true',
      'access-control-max-age': '60',
    });
    expect(responseHeaders(object, 'https://x.b.example')).toEqual({
      'access-control-allow-origin': 'https://x.b.example',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'X-Id',
    });
    expect(responseHeaders(object, 'https://evil.example')).toEqual({});
    expect(corsConfiguration(undefined, ['POST'])).toBeUndefined();
    expect(() => corsConfiguration({ allowedOrigin: '*' }, ['POST'])).toThrow('provider.httpApi.cors: unknown key(s) allowedOrigin');
    expect(() => corsConfiguration({ maxAge: -1 }, ['POST'])).toThrow('maxAge must be a whole number of seconds');
  });

  it("the function's own timeout is a function error (500); only an integration slower than 30 s is a 503", async () => {
    expect(HTTP_API_INTEGRATION_TIMEOUT_MS).toBe(30_000);
    const fixture = loadServerlessConfig(fileURLToPath(new URL('./fixtures/lambda-app/serverless.yml', import.meta.url)));
    const invoker = createLambdaInvoker({ functions: fixture.functions });
    // The 30 s wait, shortened for the test; the function itself may run 60 s.
    const api = createHttpApi({
      invoke: invoker.invoke,
      routes: [{ method: 'GET', path: '/slow', functionName: 'httpSlow' }],
      apiId: 'abcdefghij',
      region: 'eu-west-1',
      integrationTimeoutMs: 2000,
    });
    const { port } = await api.listen(0);
    try {
      const late = await fetch(`http://127.0.0.1:${port}/slow?ms=20000`);
      expect(late.status).toBe(503);
      expect(await late.json()).toEqual({ message: 'Service Unavailable' });
      invoker.faults.timeoutNext('httpSlow');
      const timedOut = await fetch(`http://127.0.0.1:${port}/slow?ms=0`);
      expect(timedOut.status).toBe(500);
      expect(await timedOut.json()).toEqual({ message: 'Internal Server Error' });
      const quick = await fetch(`http://127.0.0.1:${port}/slow?ms=0`);
      expect([quick.status, await quick.text()]).toEqual([200, 'slow but done']);
    } finally {
      await api.close();
      await invoker.close();
    }
  });
});
