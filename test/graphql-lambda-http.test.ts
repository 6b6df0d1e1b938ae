/**
 * Apollo Server behind API Gateway's HTTP API (payload 2.0): src/graphql/lambdaHttp.ts answers as
 * @as-integrations/aws-lambda did (the package it replaces), through a real ApolloServer executing real GraphQL.
 */
import { describe, expect, it } from 'vitest';
import { ApolloServer } from '@apollo/server';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createLambdaHandler } from '../src/graphql/lambdaHttp.js';

interface Ctx {
  caller: string;
}

const server = new ApolloServer<Ctx>({
  typeDefs: 'type Query { hello(name: String!): String! caller: String! }',
  resolvers: { Query: { hello: (_: unknown, { name }: { name: string }) => `Bonjour ${name}`, caller: (_p, _a, ctx: Ctx) => ctx.caller } },
});
const handler = createLambdaHandler(server, async ({ event }) => ({ caller: event.headers.authorization ?? 'nobody' }));

function event(overrides: Partial<APIGatewayProxyEventV2> & { method?: string }): APIGatewayProxyEventV2 {
  const { method = 'POST', ...rest } = overrides;
  return {
    version: '2.0',
    routeKey: `${method} /graphql`,
    rawPath: '/graphql',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: { http: { method, path: '/graphql' } } as APIGatewayProxyEventV2['requestContext'],
    isBase64Encoded: false,
    ...rest,
  };
}
const context = {} as Context;
const query = (text: string, variables?: object): string => JSON.stringify({ query: text, variables });

describe('GraphQL over the HTTP API (payload 2.0)', () => {
  it('executes a JSON POST; content-length counts bytes, not characters', async () => {
    const result = await handler(event({ body: query('query ($n: String!) { hello(name: $n) }', { n: 'Zoé' }) }), context);
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body!)).toEqual({ data: { hello: 'Bonjour Zoé' } });
    expect(result.headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8' });
    expect(result.headers!['content-length']).toBe(String(Buffer.byteLength(result.body!)));
    expect(Buffer.byteLength(result.body!)).toBeGreaterThan(result.body!.length);
  });

  it('decodes a base64 body (API Gateway encodes bodies it does not take for text)', async () => {
    const body = Buffer.from(query('{ hello(name: "B64") }')).toString('base64');
    const result = await handler(event({ body, isBase64Encoded: true }), context);
    expect(JSON.parse(result.body!)).toEqual({ data: { hello: 'Bonjour B64' } });
  });

  it('reads headers whatever their case, and hands the event to the context function', async () => {
    const result = await handler(
      event({ headers: { 'Content-Type': 'application/json', authorization: 'Bearer x' }, body: query('{ caller }') }),
      context,
    );
    expect(JSON.parse(result.body!)).toEqual({ data: { caller: 'Bearer x' } });
  });

  it('serves a GET with the query in the query string (with a preflight header, as Apollo’s CSRF rule asks)', async () => {
    const result = await handler(
      event({
        method: 'GET',
        headers: { 'apollo-require-preflight': 'true' },
        rawQueryString: 'query=%7B%20hello(name%3A%20%22Get%22)%20%7D',
      }),
      context,
    );
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body!)).toEqual({ data: { hello: 'Bonjour Get' } });
  });

  it('answers 400 with the reason to a JSON body that does not parse, without throwing', async () => {
    const result = await handler(event({ body: '{"query": ' }), context);
    expect(result.statusCode).toBe(400);
    expect(result.body).toMatch(/JSON/);
  });

  it('answers 400 to a POST whose body is neither JSON nor text (Apollo sees no body)', async () => {
    const result = await handler(event({ headers: { 'content-type': 'application/xml' }, body: '<query/>' }), context);
    expect(result.statusCode).toBe(400);
  });
});
