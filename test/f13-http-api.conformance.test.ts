/**
 * F13 HTTP API: payload format 2.0 events for the function and its result mapped back, over real HTTP
 * (API Gateway developer guide, "Working with AWS Lambda proxy integrations for HTTP APIs").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWsApp, type WsApp } from './helpers/wsFixture.js';

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
    const binary = await fetch(`${app.emulator.httpUrl}/echo`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([0, 255, 1]) });
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
});
