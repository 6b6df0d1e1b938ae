/**
 * Fuzzing with fast-check, in-process against the real handlers on dynalite: generated WebSocket messages and GraphQL
 * operations (valid, near-valid, hostile). Every one must get a clear error or a correct answer: no crash, no 5xx,
 * no INTERNAL_SERVER_ERROR, and no write from a refused input.
 *
 * `npm test` runs FUZZ_RUNS (default 100) of each with the fixed seed FUZZ_SEED (default below); `npm run fuzz` runs
 * 10,000 of each with a fresh seed. A failure prints the seed, the path and the shrunk input (fast-check's report):
 * rerun it with FUZZ_SEED=<seed> (and FUZZ_PATH=<path>).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { startBackend, TABLES, type Backend } from './helpers/backend.js';
import { CREATE, graphqlCase, wsMessage, type Caller, type GraphQLCase } from './fuzz/arbitraries.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const SEED = process.env.FUZZ_SEED === 'random' ? Date.now() ^ (Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED ?? 20_260_611);
const PATH = process.env.FUZZ_PATH;
// Generous: each run is a few DynamoDB calls; no assertion depends on time.
const TIMEOUT_MS = 120_000 + RUNS * 500;

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const CLIENT_CODES = new Set([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
]);

let backend: Backend;
const tokens: Partial<Record<Caller, string | undefined>> = {};
const tally = { ws: 0, graphql: 0, crashes: 0, serverErrors: 0, refusedWrites: 0, byKind: {} as Record<string, number> };

beforeAll(async () => {
  backend = await startBackend();
  tokens.admin = await backend.token('fuzz-admin', 'admin');
  tokens.user = await backend.token('fuzz-user');
  tokens.none = undefined;
  tokens.garbage = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0.';
});
afterAll(async () => {
  console.log(
    `fuzz (seed ${SEED}): ${tally.ws} WebSocket messages, ${tally.graphql} GraphQL operations ` +
      `(${Object.entries(tally.byKind)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}); ` +
      `${tally.crashes} crashes, ${tally.serverErrors} 5xx, ${tally.refusedWrites} writes from refused inputs`,
  );
  await backend?.close();
});

/**
 * Writes DynamoDB accepted on these tables since `mark`, once the recorder has seen every request started before
 * now. A conditional write DynamoDB refused (400, e.g. deleting an unknown id) changed nothing and is not counted.
 */
async function writesSince(mark: number, tables: readonly string[]): Promise<string[]> {
  await new Promise((resolve) => setImmediate(resolve));
  return backend.dbOps
    .slice(mark)
    .filter((op) => WRITES.has(op.operation) && op.status !== 400)
    .filter((op) => tables.some((t) => JSON.stringify(op.body).includes(`"${t}"`)))
    .map((op) => op.operation);
}

/** Rethrows failures as plain errors: an AWS SDK error drags its whole HTTP response into the report otherwise. */
function plainErrors<T>(run: (value: T) => Promise<void>): (value: T) => Promise<void> {
  return async (value) => {
    try {
      await run(value);
    } catch (error) {
      throw new Error(`${(error as Error).name}: ${(error as Error).message}`);
    }
  };
}

const runOptions = (): fc.Parameters<unknown> => ({ numRuns: RUNS, seed: SEED, ...(PATH ? { path: PATH } : {}), verbose: 0 });

describe('fuzz', () => {
  it(`WebSocket messages (${RUNS}, seed ${SEED})`, { timeout: TIMEOUT_MS }, async () => {
    const connectionId = 'fuzz-ws=';
    expect((await backend.ws.connect(connectionId, tokens.user)).statusCode).toBe(200);
    await fc.assert(
      fc.asyncProperty(
        wsMessage,
        plainErrors(async ({ kind, body, expect: expected }) => {
          tally.ws++;
          tally.byKind[`ws ${kind}`] = (tally.byKind[`ws ${kind}`] ?? 0) + 1;
          const before = backend.messages(connectionId).length;
          const mark = backend.dbOps.length;
          let status: number;
          try {
            status = (await backend.ws.send(connectionId, body)).statusCode;
          } catch (error) {
            tally.crashes++;
            throw error;
          }
          if (status >= 500) tally.serverErrors++;
          expect(status).toBe(200);
          const answers = backend.messages(connectionId).slice(before);
          expect(answers).toHaveLength(1);
          const answer = answers[0];
          expect(['subscribed', 'unsubscribed', 'pong', 'error']).toContain(answer.type);
          if (answer.type === 'error') {
            expect(['INVALID_JSON', 'INVALID_MESSAGE', 'UNKNOWN_TYPE']).toContain(answer.code);
            expect(typeof answer.message === 'string' && answer.message.length > 0).toBe(true);
            const writes = await writesSince(mark, [TABLES.connections]);
            tally.refusedWrites += writes.length;
            expect(writes).toEqual([]);
          }
          if (expected === 'error:INVALID_MESSAGE') expect(answer).toMatchObject({ type: 'error', code: 'INVALID_MESSAGE' });
          else if (expected !== 'any') expect(answer.type).toBe(expected);
        }),
      ),
      runOptions(),
    );
  });

  it(`GraphQL operations (${RUNS}, seed ${SEED})`, { timeout: TIMEOUT_MS }, async () => {
    const seeded = await backend.graphql(
      CREATE,
      {
        input: {
          name: 'Fuzz Target',
          category: 'Bar',
          address: '1 rue du Test',
          city: 'Fuzzville',
          zipCode: '75001',
          phone: '0142424242',
          discount: 5,
          latitude: 48.86,
          longitude: 2.34,
        },
      },
      tokens.admin,
    );
    const targetId = seeded.body.data!.createPartner.partner.id as string;

    await fc.assert(
      fc.asyncProperty(
        graphqlCase,
        plainErrors(async (c: GraphQLCase) => {
          tally.graphql++;
          tally.byKind[`graphql ${c.kind}`] = (tally.byKind[`graphql ${c.kind}`] ?? 0) + 1;
          const variables = c.needsId ? { ...c.variables, id: targetId } : c.variables;
          const mark = backend.dbOps.length;
          let result: Awaited<ReturnType<Backend['graphql']>>;
          try {
            result = await backend.graphql(c.query, variables, tokens[c.caller]);
          } catch (error) {
            tally.crashes++;
            throw error;
          }
          if (result.statusCode >= 500) tally.serverErrors++;
          expect(result.statusCode).toBeLessThan(500);
          const errors = result.body.errors ?? [];
          for (const error of errors) {
            expect(CLIENT_CODES, `${error.extensions?.code}: ${error.message}`).toContain(error.extensions?.code);
            expect(error.extensions).not.toHaveProperty('stacktrace');
          }
          const isMutation = c.query.trimStart().startsWith('mutation');
          const payload = Object.values(result.body.data ?? {})[0] as
            | { success?: boolean; errors?: Array<{ field: string }>; partner?: Record<string, unknown> }
            | null
            | undefined;
          const refused = errors.length > 0 || payload?.success === false;
          if (isMutation && refused) {
            const writes = await writesSince(mark, [TABLES.partners, TABLES.connections, TABLES.cache]);
            tally.refusedWrites += writes.length;
            expect(writes).toEqual([]);
          }
          if (typeof c.expect === 'object' && 'create' in c.expect) {
            expect(errors).toEqual([]);
            expect(payload).toMatchObject({
              success: true,
              partner: { name: String(c.expect.create.name).trim(), city: c.expect.create.city, version: 1 },
            });
            // DynamoDB cannot hold a magnitude under 1e-130 (underflow): such a discount is stored as the 0 it means.
            const discount = c.expect.create.discount as number;
            expect(payload!.partner!.discount).toBe(Math.abs(discount) < 1e-130 ? 0 : discount);
            expect(payload!.partner!.active).toBe(c.expect.create.active ?? true);
          } else if (typeof c.expect === 'object' && 'refusedField' in c.expect) {
            // Refused by our validation (a field error) or, for a null on a non-null input type, by GraphQL itself.
            const field = c.expect.refusedField;
            if (errors.length) expect(errors[0].extensions?.code).toBe('BAD_USER_INPUT');
            else expect(payload).toMatchObject({ success: false, errors: expect.arrayContaining([expect.objectContaining({ field })]) });
          } else if (c.expect === 'update') {
            expect(errors).toEqual([]);
            expect(payload?.success).toBe(true);
          }
        }),
      ),
      runOptions(),
    );
  });
});
