/**
 * The scenario format's one definition (TypeBox): the JSON Schema editors and the loader validate with, and the
 * TypeScript types the engine uses (format.ts derives them with `Static`), come from here and nowhere else.
 * `scenario.schema.json` and `fragment.schema.json` beside this file are generated from it (`writeSchemas.ts`; a test
 * fails when they are stale).
 *
 * Composable on purpose: a step is a union of one-action objects (`stepActions`: add an entry for a new action and
 * the schema, the types and the list of actions follow), and the top level is one object (`scenarioProperties`)
 * that other sections can extend.
 */
import Type, { type TSchema } from 'typebox';
import { loadSchema } from './load/schema.js';

/** "250ms", "2s", "10m", "2h" or a number of milliseconds (format.ts's `toMs` reads them). */
const DURATION = '^\\d+(\\.\\d+)?(ms|s|m|h)$';
export const Duration = Type.Union([Type.Number({ minimum: 0 }), Type.String({ pattern: DURATION })], {
  description: 'A duration: milliseconds, or "250ms", "2s", "10m", "2h".',
});
/** Above zero: an absence window of 0 would watch nothing and always pass. */
export const PositiveDuration = Type.Union(
  [Type.Number({ exclusiveMinimum: 0 }), Type.String({ pattern: '^(?!0+(\\.0+)?(ms|s|m|h)$)\\d+(\\.\\d+)?(ms|s|m|h)$' })],
  { description: 'A duration above zero (an absence window of 0 would watch nothing and always pass).' },
);

const ClientRef = Type.String({ minLength: 1, description: 'A client (or client group) named under `clients`.' });

/**
 * A pattern: any JSON value, matched partially (objects) or exactly (arrays, scalars), with $-matchers anywhere.
 * The matchers are listed as properties so editors complete and describe them; every other key is a nested pattern.
 */
const PATTERN_REF = '#/definitions/pattern';
export const Pattern = Type.Unsafe<unknown>({
  $ref: PATTERN_REF,
  description: 'A partial JSON pattern: objects match partially, arrays exactly, with $-matchers ($anyString, $regex, …).',
});
const matcher = (schema: TSchema, description: string): TSchema => ({ ...schema, description });
const patternDefinition = {
  description:
    'A partial JSON pattern: objects match partially (extra keys are fine), arrays element by element, scalars exactly; $-matchers anywhere.',
  properties: {
    $any: matcher(Type.Literal(true), 'Anything, even absent.'),
    $exists: matcher(Type.Boolean(), 'true: present; false: absent (or undefined).'),
    $anyString: matcher(Type.Literal(true), 'Any string.'),
    $isoTimestamp: matcher(Type.Literal(true), 'An ISO-8601 timestamp, e.g. 2026-01-31T12:00:00.000Z.'),
    $regex: matcher(Type.String(), 'A string matching this regular expression (with $options).'),
    $options: matcher(Type.String({ pattern: '^[dgimsuvy]*$' }), 'Flags of $regex, e.g. "i".'),
    $arrayContaining: matcher(Type.Array(Pattern), 'An array with, for each of these patterns, an element matching it.'),
    $anyNumber: matcher(Type.Literal(true), 'Any number.'),
    $gt: matcher(Type.Number(), 'A number greater than this.'),
    $gte: matcher(Type.Number(), 'A number greater than or equal to this.'),
    $lt: matcher(Type.Number(), 'A number less than this.'),
    $lte: matcher(Type.Number(), 'A number less than or equal to this.'),
    $eq: matcher(Type.Unknown(), 'Deeply equal to this value (no matchers inside).'),
    $ne: matcher(Type.Unknown(), 'Not deeply equal to this value.'),
    $in: matcher(Type.Array(Type.Unknown()), 'Deeply equal to one of these values.'),
    $not: matcher(Pattern, 'Does not match this pattern.'),
    $length: matcher(Type.Integer({ minimum: 0 }), 'An array or string of this length.'),
    $exact: matcher(Type.Record(Type.String(), Pattern), 'An object with exactly these keys, each value matched.'),
  },
  additionalProperties: { $ref: PATTERN_REF },
  items: { $ref: PATTERN_REF },
};

/** A JSON Schema a response or a frame must satisfy (checked with Ajv), beside its pattern. */
const JsonSchema = Type.Union([Type.Object({}, { additionalProperties: true }), Type.Boolean()], {
  description: 'A JSON Schema (draft-07) the value must also satisfy, e.g. { required: [partnerId] }.',
});
const Captures = (what: string) =>
  Type.Record(Type.String({ pattern: '^[A-Za-z_][\\w-]*$' }), Type.String({ pattern: '^\\$' }), {
    additionalProperties: false,
    description: `name: JSONPath into ${what}, usable in later steps as \${{ name }}.`,
  });

const Claims = Type.Object(
  { sub: Type.String(), role: Type.Optional(Type.String()) },
  { additionalProperties: true, description: "Claims of a development token signed with the target's secret." },
);
export const ClientSpec = Type.Object(
  {
    claims: Type.Optional(Claims),
    token: Type.Optional(Type.String({ description: 'A raw token, used as given (e.g. an invalid one).' })),
    count: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10000, description: 'A group of this many clients; steps naming it act for each member.' }),
    ),
  },
  { additionalProperties: false },
);

// Expectations: each usable as a step of its own (expectMessage…) or inside an `expect` block (message…).
export const MessageExpectation = Type.Object(
  {
    client: ClientRef,
    match: Pattern,
    within: Type.Optional(Duration),
    schema: Type.Optional(JsonSchema),
    capture: Type.Optional(Captures('the matched frame (e.g. $.partner.id); one client, not a group')),
  },
  {
    additionalProperties: false,
    description: 'The first unconsumed frame matching `match`, already queued or arriving within `within` (default 10 s).',
  },
);
export const NoMessageExpectation = Type.Object(
  { client: ClientRef, match: Type.Optional(Pattern), during: PositiveDuration },
  { additionalProperties: false, description: 'No frame matching `match` (any frame when absent) during the whole window.' },
);
export const CacheExpectation = Type.Object(
  {
    keys: Type.Array(Type.String(), { minItems: 1 }),
    mode: Type.Optional(
      Type.Union([Type.Literal('exact'), Type.Literal('containing')], {
        description: 'exact: one invalidation with exactly these keys; containing: one with at least these.',
      }),
    ),
    within: Type.Optional(Duration),
  },
  { additionalProperties: false, description: 'The app logged a cache invalidation of these keys. Needs the emulator.' },
);
export const ConnectionExpectation = Type.Object(
  {
    client: Type.Optional(ClientRef),
    state: Type.Optional(Type.Union([Type.Literal('present'), Type.Literal('gone')])),
    count: Type.Optional(Type.Integer({ minimum: 0 })),
    within: Type.Optional(Duration),
  },
  {
    additionalProperties: false,
    anyOf: [{ required: ['client'] }, { required: ['count'] }],
    description: "The app's record of a client's connection (present or gone), or the number of records: needs client or count.",
  },
);
export const ClosedExpectation = Type.Object(
  { client: ClientRef, code: Type.Optional(Type.Integer()), within: Type.Optional(Duration) },
  { additionalProperties: false, description: "The client's connection is closed (with this code, when given)." },
);
/** Ported from branch A's JSON Schema (metricExpectation) onto this definition. */
export const MetricExpectation = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    namespace: Type.Optional(Type.String({ minLength: 1 })),
    dimensions: Type.Optional(Type.Record(Type.String(), Type.String())),
    statistic: Type.Optional(
      Type.Union(
        [
          Type.Literal('sum'),
          Type.Literal('sampleCount'),
          Type.Literal('min'),
          Type.Literal('max'),
          Type.Literal('average'),
          Type.Literal('p50'),
          Type.Literal('p90'),
          Type.Literal('p99'),
        ],
        { description: 'Default sum.' },
      ),
    ),
    atLeast: Type.Optional(Type.Number()),
    atMost: Type.Optional(Type.Number()),
    equals: Type.Optional(Type.Number()),
    within: Type.Optional(Duration),
  },
  {
    additionalProperties: false,
    anyOf: [{ required: ['atLeast'] }, { required: ['atMost'] }, { required: ['equals'] }],
    description:
      'A CloudWatch metric the functions emitted (EMF) since the scenario started: a statistic of the series named `name` (in `namespace`, with at least `dimensions`, all matching series together) is at least / at most / exactly a value. Polls until it holds or `within` passes. Needs the emulator.',
  },
);
export const EventExpectation = Type.Object(
  { match: Pattern, count: Type.Optional(Type.Integer({ minimum: 1 })), within: Type.Optional(Duration) },
  {
    additionalProperties: false,
    description:
      "At least `count` events of the emulator's log match, e.g. {kind: streamRecord, eventName: MODIFY}, {kind: batch, action: bisect}, {kind: sqs, action: sent}. Needs the emulator.",
  },
);

export const Expectation = Type.Union(
  [
    Type.Object({ message: MessageExpectation }, { additionalProperties: false }),
    Type.Object({ noMessage: NoMessageExpectation }, { additionalProperties: false }),
    Type.Object({ cacheInvalidated: CacheExpectation }, { additionalProperties: false }),
    Type.Object({ connection: ConnectionExpectation }, { additionalProperties: false }),
    Type.Object({ closed: ClosedExpectation }, { additionalProperties: false }),
    Type.Object({ event: EventExpectation }, { additionalProperties: false }),
  ],
  { description: 'One expectation: message, noMessage, cacheInvalidated, connection, closed or event.' },
);

export const Fault = Type.Union(
  [
    Type.Object(
      {
        postToConnection: Type.Object(
          {
            client: ClientRef,
            status: Type.Union([Type.Literal(410), Type.Literal(429), Type.Literal(500), Type.Literal(403)]),
            count: Type.Optional(Type.Integer({ minimum: 1 })),
          },
          { additionalProperties: false, description: "The management API answers the client's next posts with this status." },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        socketDies: Type.Object(
          { client: ClientRef, disconnectFails: Type.Optional(Type.Boolean()) },
          { additionalProperties: false, description: "The client's socket dies without a close frame." },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        dynamodbThrottle: Type.Object(
          { count: Type.Integer({ minimum: 1 }), operation: Type.Optional(Type.String()) },
          { additionalProperties: false, description: 'The next `count` DynamoDB calls (of this operation) are throttled.' },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        dynamodbUnprocessed: Type.Object(
          { count: Type.Integer({ minimum: 1 }), table: Type.Optional(Type.String()) },
          {
            additionalProperties: false,
            description:
              'The next `count` BatchWriteItem requests (on this table) apply only part of their batch and answer the rest as UnprocessedItems (HTTP 200), as DynamoDB does under load.',
          },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        lambdaTimeout: Type.Object(
          {
            function: Type.String(),
            count: Type.Optional(Type.Integer({ minimum: 1 })),
            afterMs: Type.Optional({
              ...Duration,
              description:
                'The time runs out after this much execution (network time included). Default: at once, before the function runs.',
            }),
            afterCalls: Type.Optional(
              Type.Integer({
                minimum: 1,
                description:
                  "The time runs out right after the function's Nth AWS call has its answer (e.g. 1 = right after the first write committed).",
              }),
            ),
            service: Type.Optional(
              Type.String({
                description: "With afterCalls: only calls to this AWS service count (SigV4's name: execute-api for posts, dynamodb, sqs).",
              }),
            ),
          },
          { additionalProperties: false, not: { required: ['afterMs', 'afterCalls'] } },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        dynamodbIndexLag: Type.Object(
          { ms: Duration },
          {
            additionalProperties: false,
            description: 'Reads of global secondary indexes lag writes by this long from now on (0 turns the lag off).',
          },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        streamRecordFails: Type.Object(
          { match: Pattern, description: Type.Optional(Type.String()) },
          {
            additionalProperties: false,
            description:
              'Stream batches holding a record that matches fail as if the consumer threw on it (bisect, retries, on-failure destination follow).',
          },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        coldStart: Type.Object(
          { function: Type.String() },
          { additionalProperties: false, description: "The function's next invocation starts cold." },
        ),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'One fault of the emulator. Needs the emulator.' },
);

const GraphqlExpect = Type.Object(
  {
    status: Type.Optional(Type.Integer({ description: 'HTTP status (default 200).' })),
    data: Type.Optional(Pattern),
    errors: Type.Optional({ ...Pattern, description: 'Without it, `errors` must be absent.' }),
    schema: Type.Optional({ ...JsonSchema, description: 'A JSON Schema the whole response body ({data, errors}) must satisfy.' }),
  },
  { additionalProperties: false },
);

/** Every action a step can take, by its key: the source of the step union, the types and the list of actions. */
export const stepActions = {
  connect: Type.Union(
    [
      ClientRef,
      Type.Object(
        {
          client: ClientRef,
          expectStatus: Type.Optional(Type.Integer({ description: 'Expect the handshake to be refused with this HTTP status.' })),
        },
        { additionalProperties: false },
      ),
    ],
    { description: 'Every member of the client (group) opens its WebSocket.' },
  ),
  send: Type.Object(
    {
      client: ClientRef,
      text: Type.Optional(Type.String()),
      json: Type.Optional(Type.Unknown()),
      repeat: Type.Optional(
        Type.Integer({ minimum: 1, description: 'Send the text this many times in one message (builds large payloads).' }),
      ),
    },
    { additionalProperties: false, description: 'Every member sends a text frame (`text`) or a JSON one (`json`).' },
  ),
  subscribe: Type.Object(
    { client: ClientRef },
    {
      additionalProperties: true,
      description:
        "Sends the app's subscribe message (custom.emulator.scenarios.subscribe in serverless.yml) with these fields and waits for its acknowledgement.",
    },
  ),
  graphql: Type.Object(
    {
      as: Type.Optional({ ...ClientRef, description: 'The client whose token goes in `Authorization: Bearer …`.' }),
      query: Type.String(),
      variables: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      headers: Type.Optional(
        Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), Type.String(), {
          additionalProperties: false,
          description: 'HTTP headers of this request (over content-type, and over the Authorization `as` makes).',
        }),
      ),
      expect: Type.Optional(GraphqlExpect),
      capture: Type.Optional(Captures('the response, e.g. $.data.createPartner.partner.id')),
    },
    { additionalProperties: false, description: "One operation on the app's GraphQL endpoint." },
  ),
  expectMessage: MessageExpectation,
  expectNoMessage: NoMessageExpectation,
  expectCacheInvalidated: CacheExpectation,
  expectConnection: ConnectionExpectation,
  expectClosed: ClosedExpectation,
  expectMetric: MetricExpectation,
  expect: Type.Array(Expectation, {
    minItems: 1,
    description: 'Expectations that run concurrently: a no-message window overlaps the positive waits.',
  }),
  fault: Fault,
  advanceClock: { ...Duration, description: "Moves the emulator's clock (idle and maximum durations, TTL expiry). Needs the emulator." },
  disconnect: Type.Union(
    [
      ClientRef,
      Type.Object(
        {
          client: ClientRef,
          code: Type.Optional(Type.Integer()),
          abrupt: Type.Optional(Type.Boolean({ description: 'Drop the TCP connection without a close frame.' })),
        },
        { additionalProperties: false },
      ),
    ],
    { description: "Every member closes its connection; API Gateway's $disconnect is awaited." },
  ),
  sleep: { ...Duration, description: 'Waits in real time (last resort: prefer an expectation with `within`).' },
};

/** Keys any step may carry beside its one action. */
export const stepCommon = {
  name: Type.Optional(Type.String({ description: 'Failures and reports quote it.' })),
  timeout: Type.Optional({
    ...PositiveDuration,
    description: 'The whole step fails when it has not finished within this (its own `within` waits included).',
  }),
};

/**
 * Load-time actions: expanded by the loader into ordinary steps, so the runner never sees them.
 * `use` inserts a fragment's steps with its parameters; `repeat` repeats steps.
 */
const StepRef = Type.Unsafe<Record<string, unknown>>({ $ref: '#/definitions/step' });
export const loadTimeActions = {
  use: Type.Object(
    {
      fragment: Type.String({
        minLength: 1,
        description: 'A fragment under scenarios/fragments/ by name (create-partner), or a path relative to this file.',
      }),
      with: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "The fragment's parameters (see its `params`)." })),
    },
    { additionalProperties: false, description: "Inserts a fragment's steps, its ${{ params.x }} replaced by `with`." },
  ),
  repeat: Type.Object(
    {
      times: Type.Integer({ minimum: 1, maximum: 1000 }),
      steps: Type.Array(StepRef, { minItems: 1 }),
    },
    { additionalProperties: false, description: 'Runs these steps `times` times in a row; ${{ repeat.index }} is 1, 2, …' },
  ),
};

const stepUnion = (actions: Record<string, TSchema>) =>
  Type.Union(
    Object.entries(actions).map(([key, schema]) => Type.Object({ ...stepCommon, [key]: schema }, { additionalProperties: false })),
    { description: 'Exactly one action, with an optional name and timeout.' },
  );

/** One runnable step (after the loader's expansion): exactly one of `stepActions`. */
export const Step = stepUnion(stepActions);

/** A step as written in a file: a runnable step, or `use`/`repeat`. The JSON form of `#/definitions/step`. */
export const writtenStepSchema = stepUnion({ ...stepActions, ...loadTimeActions });

export const Slo = Type.Object(
  {
    maxDurationMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    p95MessageLatencyMs: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description:
          'The 95th percentile of message latency: from the start of the graphql/send step that caused a message to its arrival.',
      }),
    ),
    maxGraphqlMs: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description: 'The slowest graphql step, from request to answer (e.g. a mutation that awaits its fanout).',
      }),
    ),
  },
  { additionalProperties: false, description: 'Service levels; a breach fails the scenario (and the exit code).' },
);

/** The top level of a scenario file; another section (e.g. `load`) is one more entry here. */
export const scenarioProperties = {
  name: Type.String({ minLength: 1, description: 'What the scenario proves, in one line.' }),
  description: Type.Optional(Type.String()),
  tags: Type.Optional(Type.Array(Type.String(), { description: 'Selected with --tag.' })),
  latency: Type.Optional(
    Type.Union([Type.Literal('none'), Type.Literal('aws')], {
      description: "Network time of the handlers' AWS calls and GSI lag for this scenario (harness/latency.ts). Default none.",
    }),
  ),
  vars: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Values available as ${{ name }} from the start.' })),
  clients: Type.Optional(
    Type.Record(Type.String(), ClientSpec, {
      description: 'Named WebSocket/GraphQL clients. A client with count N is a group of N clients acting together.',
    }),
  ),
  slo: Type.Optional(Slo),
  load: Type.Optional(
    Type.Unsafe<unknown>({
      ...loadSchema,
      description:
        "A load run after the steps: arrival phases, connections' spread, quota, mutation workload, thresholds (harness/scenarios/load/).",
    }),
  ),
};

const defs = (step: TSchema) => ({ pattern: patternDefinition, step });

/** The JSON Schema of a scenario file, as editors and the loader see it. */
export const scenarioSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'scenario.schema.json',
  title: 'Emulator scenario',
  description: 'One scenario: named clients, then steps run in order. See harness/scenarios/README.md.',
  ...Type.Object({ ...scenarioProperties, steps: Type.Array(StepRef, { minItems: 1 }) }, { additionalProperties: false }),
  definitions: defs(writtenStepSchema),
};

export const FragmentParam = Type.Object(
  {
    description: Type.Optional(Type.String()),
    default: Type.Optional(Type.Unknown({ description: 'The value when `with` does not give one. Without it the parameter is required.' })),
    optional: Type.Optional(
      Type.Boolean({ description: 'May be left out: a value that is exactly ${{ params.x }} then disappears with its key.' }),
    ),
  },
  { additionalProperties: false },
);

/** The JSON Schema of a fragment file (scenarios/fragments/): parameters, then steps that use them. */
export const fragmentSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'fragment.schema.json',
  title: 'Scenario fragment',
  description:
    'Steps written once and inserted with `use: { fragment, with }`. ${{ params.x }} anywhere in the steps is replaced by the parameter (a value that is exactly one placeholder keeps its type).',
  ...Type.Object(
    {
      description: Type.Optional(Type.String()),
      params: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][\\w-]*$' }), FragmentParam)),
      steps: Type.Array(StepRef, { minItems: 1 }),
    },
    { additionalProperties: false },
  ),
  // In a fragment any value may still be a placeholder: the loader checks the steps once the parameters are in.
  definitions: defs(allowPlaceholders(writtenStepSchema)),
};

/**
 * The same schema where any non-string value may also be `${{ params.x }}`, for editing fragments: a placeholder
 * only gets its type when a scenario uses the fragment.
 */
function allowPlaceholders(schema: TSchema): TSchema {
  const placeholder = { type: 'string', pattern: '^\\$\\{\\{\\s*params\\.[\\w-]+\\s*\\}\\}$' };
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== 'object') return node;
    const copy = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === 'properties' ? mapValues(v, walk) : walk(v)]));
    const type = (node as { type?: unknown }).type;
    if (type !== undefined && type !== 'string') return { anyOf: [copy, placeholder] };
    return copy;
  };
  const mapValues = (v: unknown, f: (x: unknown) => unknown) =>
    Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, f(x)]));
  return walk(schema) as TSchema;
}
