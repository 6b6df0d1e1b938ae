/**
 * fast-check generators for the fuzz suite: WebSocket message bodies and GraphQL operations, each labelled `valid`,
 * `near-valid` (one thing wrong, and the oracle knows what) or `hostile` (anything), so the oracle can say what a
 * correct answer is.
 */
import fc from 'fast-check';

export type Kind = 'valid' | 'near-valid' | 'hostile';

// ---------------------------------------------------------------------------------------------------------------
// WebSocket messages

const topic = fc.constantFrom('partners', 'partner_updates', 'cache_invalidation');
const place = fc.stringMatching(/^[A-Za-zÀ-ÿ' -]{0,30}[A-Za-z]$/);
const near = fc.record({
  latitude: fc.double({ min: -90, max: 90, noNaN: true }),
  longitude: fc.double({ min: -180, max: 180, noNaN: true }),
  radiusKm: fc.double({ min: 0.001, max: 100, noNaN: true }),
});

const validSubscribe = fc
  .record(
    {
      topics: fc.uniqueArray(topic, { minLength: 1, maxLength: 3 }),
      city: place,
      categories: fc.array(place, { maxLength: 5 }),
      near,
    },
    { requiredKeys: ['topics'] },
  )
  .map((data) => ({ type: 'subscribe', data }));

export const validWsMessage: fc.Arbitrary<{ kind: Kind; body: string; expect: string }> = fc
  .oneof(
    validSubscribe.map((m) => ({ message: m as Record<string, unknown>, expect: 'subscribed' })),
    fc.option(fc.uniqueArray(topic, { minLength: 1, maxLength: 3 }), { nil: undefined }).map((topics) => ({
      message: { type: 'unsubscribe', ...(topics ? { data: { topics } } : {}) } as Record<string, unknown>,
      expect: 'unsubscribed',
    })),
    fc.constant({ message: { type: 'ping' } as Record<string, unknown>, expect: 'pong' }),
  )
  .map(({ message, expect }) => ({ kind: 'valid' as const, body: JSON.stringify(message), expect }));

/** A valid subscribe with exactly one field made wrong: the answer must be INVALID_MESSAGE. */
export const nearValidWsMessage: fc.Arbitrary<{ kind: Kind; body: string; expect: string }> = fc
  .tuple(
    validSubscribe,
    fc.oneof(
      fc.constantFrom<[string, unknown]>(
        ['topics', []],
        ['topics', 'partners'],
        ['topics', ['nope']],
        ['topics', [1]],
        ['city', 42],
        ['city', ' '],
        ['city', 'x'.repeat(81)],
        ['categories', 'Bar'],
        ['categories', Array.from({ length: 21 }, (_, i) => `c${i}`)],
        ['categories', ['']],
        ['categories', [{}]],
        ['near', { latitude: 91, longitude: 0, radiusKm: 1 }],
        ['near', { latitude: 0, longitude: 181, radiusKm: 1 }],
        ['near', { latitude: 0, longitude: 0, radiusKm: 0 }],
        ['near', { latitude: 0, longitude: 0, radiusKm: 101 }],
        ['near', { latitude: '0', longitude: 0, radiusKm: 1 }],
        ['near', 'here'],
      ),
    ),
  )
  .map(([message, [field, value]]) => ({
    kind: 'near-valid' as const,
    body: JSON.stringify({ ...message, data: { ...message.data, [field]: value } }),
    expect: 'error:INVALID_MESSAGE',
  }));

export const hostileWsMessage: fc.Arbitrary<{ kind: Kind; body: string; expect: string }> = fc
  .oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.json({ maxDepth: 4 }),
    fc.jsonValue({ maxDepth: 3 }).map((data) => JSON.stringify({ type: 'subscribe', data })),
    fc.jsonValue({ maxDepth: 3 }).map((data) => JSON.stringify({ type: 'unsubscribe', data })),
    fc.jsonValue({ maxDepth: 2 }).map((type) => JSON.stringify({ type, data: { topics: ['partners'] } })),
    fc.constantFrom(
      '',
      'null',
      '[]',
      '{"type":"subscribe","data":{"topics":["partners"],"__proto__":{"city":1}}}',
      '{"__proto__":{"type":"ping"}}',
      '{"type":"constructor"}',
      '{"type":"toString"}',
      '{"type":"subscribe","data":{"topics":["partners","partners","partners"]}}',
      `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
      JSON.stringify({ type: 'subscribe', data: { topics: ['partners'], city: 'x'.repeat(120_000) } }),
      JSON.stringify({ type: 'subscribe', data: { topics: ['partners'], categories: Array.from({ length: 5000 }, () => 'c') } }),
      '{"type":"ping"',
      '\u0000\u0001',
    ),
  )
  .map((body) => ({ kind: 'hostile' as const, body, expect: 'any' }));

export const wsMessage = fc.oneof(
  { weight: 2, arbitrary: validWsMessage },
  { weight: 2, arbitrary: nearValidWsMessage },
  { weight: 3, arbitrary: hostileWsMessage },
);

// ---------------------------------------------------------------------------------------------------------------
// GraphQL operations

const word = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,11}$/);
const zipCode = fc
  .tuple(fc.integer({ min: 1, max: 95 }), fc.integer({ min: 0, max: 999 }))
  .map(([d, n]) => `${String(d).padStart(2, '0')}${String(n).padStart(3, '0')}`);
const phone = fc
  .tuple(
    fc.constantFrom('0', '+33 '),
    fc.integer({ min: 1, max: 9 }),
    fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 4, maxLength: 4 }),
    fc.constantFrom(' ', '.', '-', ''),
  )
  .map(([prefix, first, pairs, sep]) => `${prefix}${first}${pairs.map((p) => sep + String(p).padStart(2, '0')).join('')}`);

export const validPartnerInput = fc.record(
  {
    name: fc.array(word, { minLength: 1, maxLength: 4 }).map((w) => w.join(' ')),
    category: fc.constantFrom('Restaurant', 'Bar', 'Gym', 'Café', 'Boutique'),
    description: fc.string({ maxLength: 200 }),
    address: fc.array(word, { minLength: 1, maxLength: 5 }).map((w) => `${w.length} ${w.join(' ')}`),
    city: fc.constantFrom('Paris', 'Lyon', 'Nice', 'Lille', 'Fuzzville'),
    zipCode,
    phone,
    email: fc.tuple(word, word).map(([a, b]) => `${a}@${b}.fr`),
    website: word.map((w) => `https://${w}.example.fr`),
    discount: fc.double({ min: 0, max: 100, noNaN: true }),
    latitude: fc.double({ min: -90, max: 90, noNaN: true }),
    longitude: fc.double({ min: -180, max: 180, noNaN: true }),
    active: fc.boolean(),
  },
  { requiredKeys: ['name', 'category', 'address', 'city', 'zipCode', 'phone', 'discount', 'latitude', 'longitude'] },
);

/** One field made wrong, with the field the refusal must name. Type-correct, so only our validation can refuse it. */
export const badField = fc.constantFrom<[string, unknown]>(
  ['name', ' '],
  ['name', 'n'.repeat(121)],
  ['category', '\t'],
  ['city', '  '],
  ['address', ''],
  ['address', 'a'.repeat(201)],
  ['description', 'd'.repeat(2001)],
  ['zipCode', '7500'],
  ['zipCode', '00000'],
  ['zipCode', '9'.repeat(5000)],
  ['phone', '12345'],
  ['phone', '+44 20 7946 0958'],
  ['email', 'nope'],
  ['email', `${'e'.repeat(300)}@x.fr`],
  ['website', 'javascript:alert(1)'],
  ['website', 'not a url'],
  ['website', `https://x.fr/${'w'.repeat(3000)}`],
  ['discount', -0.01],
  ['discount', 100.01],
  ['discount', 1e308],
  ['latitude', 90.5],
  ['latitude', -1e9],
  ['longitude', 180.0001],
  ['active', null],
);

export const CREATE = `mutation ($input: PartnerInput!) { createPartner(input: $input) { success message errors { field message } partner { id name city discount active version } } }`;
export const UPDATE = `mutation ($id: ID!, $input: PartnerUpdateInput!) { updatePartner(id: $id, input: $input) { success message errors { field message } partner { id version } } }`;
export const DELETE = `mutation ($id: ID!) { deletePartner(id: $id) { success message partner { id } } }`;
export const PARTNER = `query ($id: ID!) { partner(id: $id) { id name active } }`;
export const LIST = `query ($city: String, $category: String, $limit: Int, $next: String) { partners(city: $city, category: $category, limit: $limit, nextToken: $next) { items { id name active } nextToken } }`;
export const NEAR = `query ($lat: Float!, $lon: Float!, $r: Float!, $limit: Int) { partnersNear(latitude: $lat, longitude: $lon, radiusKm: $r, limit: $limit) { partner { id } distanceKm } }`;

export type Caller = 'admin' | 'user' | 'none' | 'garbage';

export interface GraphQLCase {
  kind: Kind;
  /** What the oracle expects: a committed create, a refusal naming `field`, or anything but an internal error. */
  expect: { create: Record<string, unknown> } | { refusedField: string } | 'update' | 'any';
  query: string;
  variables: Record<string, unknown>;
  caller: Caller;
  /** Filled with an existing partner's id at run time. */
  needsId?: boolean;
}

const pageToken = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
  fc
    .dictionary(fc.constantFrom('id', 'cityKey', 'categoryKey', 'pk', 'geohash'), fc.oneof(fc.string({ maxLength: 20 }), fc.integer()))
    .map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
  fc.constant('A'.repeat(5000)),
);

export const graphqlCase: fc.Arbitrary<GraphQLCase> = fc.oneof(
  // valid
  {
    weight: 3,
    arbitrary: validPartnerInput.map(
      (input): GraphQLCase => ({ kind: 'valid', expect: { create: input }, query: CREATE, variables: { input }, caller: 'admin' }),
    ),
  },
  {
    weight: 2,
    arbitrary: validPartnerInput.chain((input) =>
      fc.subarray(Object.keys(input), { minLength: 1 }).map(
        (keys): GraphQLCase => ({
          kind: 'valid',
          expect: 'update',
          query: UPDATE,
          variables: { input: Object.fromEntries(keys.map((k) => [k, input[k as keyof typeof input]])) },
          caller: 'admin',
          needsId: true,
        }),
      ),
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        city: fc.option(fc.constantFrom('Paris', 'Lyon', 'Fuzzville'), { nil: undefined }),
        category: fc.option(fc.constantFrom('Bar', 'Gym'), { nil: undefined }),
        limit: fc.integer({ min: 1, max: 100 }),
      })
      .map((variables): GraphQLCase => ({ kind: 'valid', expect: 'any', query: LIST, variables, caller: 'user' })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        lat: fc.double({ min: 40, max: 50, noNaN: true }),
        lon: fc.double({ min: -5, max: 8, noNaN: true }),
        r: fc.double({ min: 0.1, max: 100, noNaN: true }),
        limit: fc.integer({ min: 1, max: 100 }),
      })
      .map((variables): GraphQLCase => ({ kind: 'valid', expect: 'any', query: NEAR, variables, caller: 'user' })),
  },
  // near-valid
  {
    weight: 3,
    arbitrary: fc.tuple(validPartnerInput, badField).map(
      ([input, [field, value]]): GraphQLCase => ({
        kind: 'near-valid',
        expect: { refusedField: field },
        query: CREATE,
        variables: { input: { ...input, [field]: value } },
        caller: 'admin',
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: badField.map(
      ([field, value]): GraphQLCase => ({
        kind: 'near-valid',
        expect: { refusedField: field },
        query: UPDATE,
        variables: { input: { [field]: value } },
        caller: 'admin',
        needsId: true,
      }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(validPartnerInput, fc.constantFrom<Caller>('user', 'none', 'garbage')).map(
      ([input, caller]): GraphQLCase => ({
        kind: 'near-valid',
        expect: 'any',
        query: CREATE,
        variables: { input },
        caller,
      }),
    ),
  },
  // hostile
  {
    weight: 2,
    arbitrary: fc
      .record({
        id: fc.oneof(fc.string({ maxLength: 300 }), fc.constant(''), fc.constant('x'.repeat(5000))),
        op: fc.constantFrom(PARTNER, DELETE, UPDATE),
        caller: fc.constantFrom<Caller>('admin', 'user', 'none', 'garbage'),
        input: fc.dictionary(
          fc.constantFrom('name', 'city', 'discount', 'active', 'expectedVersion', 'latitude'),
          fc.jsonValue({ maxDepth: 1 }),
          { maxKeys: 3 },
        ),
      })
      .map(({ id, op, caller, input }): GraphQLCase => ({ kind: 'hostile', expect: 'any', query: op, variables: { id, input }, caller })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        city: fc.option(fc.string({ maxLength: 120 }), { nil: undefined }),
        category: fc.option(fc.string({ maxLength: 120 }), { nil: undefined }),
        limit: fc.option(fc.oneof(fc.integer({ min: -10, max: 200 }), fc.constant(2 ** 31), fc.double()), { nil: undefined }),
        next: fc.option(pageToken, { nil: undefined }),
      })
      .map((variables): GraphQLCase => ({ kind: 'hostile', expect: 'any', query: LIST, variables, caller: 'user' })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        lat: fc.oneof(fc.double(), fc.string()),
        lon: fc.double(),
        r: fc.oneof(fc.double(), fc.integer()),
        limit: fc.option(fc.integer(), { nil: undefined }),
      })
      .map((variables): GraphQLCase => ({ kind: 'hostile', expect: 'any', query: NEAR, variables, caller: 'user' })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(CREATE, UPDATE, LIST, NEAR, PARTNER, '{ __schema { types { name } } }', '{ partnr { id } }'),
        fc.nat(),
        fc.nat(),
        fc.string({ maxLength: 5 }),
      )
      .map(([query, a, b, junk]): GraphQLCase => {
        // A valid document with a slice cut out or replaced: parse errors, validation errors, unknown fields.
        const start = a % query.length;
        const end = Math.min(query.length, start + (b % 20));
        return { kind: 'hostile', expect: 'any', query: query.slice(0, start) + junk + query.slice(end), variables: {}, caller: 'admin' };
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ maxLength: 300 }), fc.jsonValue({ maxDepth: 2 }))
      .map(([query, variables]): GraphQLCase => ({ kind: 'hostile', expect: 'any', query, variables: { v: variables }, caller: 'admin' })),
  },
  {
    weight: 1,
    arbitrary: fc
      .jsonValue({ maxDepth: 3 })
      .map((input): GraphQLCase => ({ kind: 'hostile', expect: 'any', query: CREATE, variables: { input }, caller: 'admin' })),
  },
);
