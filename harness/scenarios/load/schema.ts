/**
 * The JSON Schema piece of a scenario's `load:` section. It imports nothing, so the main scenario schema
 * (harness/scenarios/schema.ts) can embed it for editors while load/format.ts validates the section with it.
 */
const duration = {
  oneOf: [
    { type: 'number', minimum: 0 },
    { type: 'string', pattern: '^\\d+(\\.\\d+)?(ms|s|m|h)$' },
  ],
};
/** A list (round-robin over connections or mutations) or weights by value (deterministic proportions). */
const spread = {
  oneOf: [
    { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    { type: 'object', minProperties: 1, additionalProperties: { type: 'number', exclusiveMinimum: 0 } },
  ],
};
const operation = {
  type: 'object',
  additionalProperties: false,
  required: ['query'],
  properties: {
    query: { type: 'string', minLength: 1 },
    variables: { type: 'object' },
    /** JSONPath to the created entity's id in the answer (create only). */
    id: { type: 'string', minLength: 1 },
    /** JSONPath to a boolean that says the mutation succeeded, e.g. $.data.createPartner.success. */
    success: { type: 'string', minLength: 1 },
  },
};

export const loadSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['phases', 'subscribe', 'notifications'],
  properties: {
    mode: { enum: ['simulated', 'ws'], description: 'simulated in-process connections (default) or real ws sockets' },
    phases: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['duration'],
        properties: {
          name: { type: 'string' },
          duration,
          arrivalRate: { type: 'number', minimum: 0 },
          rampTo: { type: 'number', minimum: 0 },
          arrivalCount: { type: 'integer', minimum: 0 },
          pause: { type: 'boolean' },
        },
      },
    },
    maxConnectionsPerSecond: { type: 'number', exclusiveMinimum: 0 },
    inFlight: { type: 'integer', minimum: 1 },
    claims: { type: 'object', required: ['sub'], properties: { sub: { type: 'string', minLength: 1 } } },
    subscribe: {
      type: 'object',
      additionalProperties: false,
      required: ['topics'],
      properties: { topics: spread, cities: spread, categories: spread, within: duration },
    },
    mutations: {
      type: 'object',
      additionalProperties: false,
      required: ['as', 'rate', 'mix', 'operations'],
      properties: {
        as: { type: 'string', minLength: 1 },
        rate: { type: 'number', exclusiveMinimum: 0 },
        count: { type: 'integer', minimum: 1 },
        duration,
        maxInFlight: { type: 'integer', minimum: 1 },
        mix: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            create: { type: 'number', minimum: 0 },
            update: { type: 'number', minimum: 0 },
            delete: { type: 'number', minimum: 0 },
          },
        },
        cities: spread,
        categories: spread,
        entities: { type: 'array', items: { type: 'object', required: ['id', 'city', 'category'] } },
        operations: {
          type: 'object',
          additionalProperties: false,
          properties: { create: operation, update: operation, delete: operation },
        },
      },
    },
    notifications: {
      type: 'object',
      additionalProperties: false,
      required: ['match', 'topics'],
      properties: {
        match: {},
        topics: { type: 'array', minItems: 1, items: { type: 'string' } },
        eventId: { type: 'string' },
        entityId: { type: 'string' },
        kind: { type: 'string' },
        kinds: {
          type: 'object',
          additionalProperties: false,
          properties: { create: { type: 'string' }, update: { type: 'string' }, delete: { type: 'string' } },
        },
        drain: duration,
      },
    },
    thresholds: {
      type: 'object',
      additionalProperties: { oneOf: [{ type: 'string' }, { type: 'array', minItems: 1, items: { type: 'string' } }] },
    },
  },
} as const;
