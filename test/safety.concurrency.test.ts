/**
 * Concurrency through the real GraphQL handler on dynalite: 100 concurrent updates of one partner all land — each
 * answers success with its own version, the versions are exactly 2..101, nothing is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { startBackend, TABLES, type Backend } from './helpers/backend.js';
import { CREATE_PARTNER, seedPartnerInput } from './fixtures/seed.js';
import { encodeGeohash } from '../src/partners/geohash.js';

let backend: Backend;
let admin: string;
beforeAll(async () => {
  backend = await startBackend();
  admin = await backend.token('admin-concurrency', 'admin');
});
afterAll(() => backend.close());

const UPDATE = `mutation ($id: ID!, $input: PartnerUpdateInput!) { updatePartner(id: $id, input: $input) { success message partner { version description discount latitude longitude } } }`;
const row = async (id: string) =>
  (await backend.doc.send(new GetCommand({ TableName: TABLES.partners, Key: { id }, ConsistentRead: true }))).Item!;

describe('concurrent updates of one partner', () => {
  it('100 concurrent updates: every one lands, versions 2..101, none lost', { timeout: 180_000 }, async () => {
    const id = (await backend.graphql(CREATE_PARTNER, { input: { ...seedPartnerInput, name: 'Contended' } }, admin)).body.data!
      .createPartner.partner.id as string;
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => backend.graphql(UPDATE, { id, input: { description: `update ${i}` } }, admin)),
    );
    const answers = results.map(
      (r) =>
        r.body.data?.updatePartner as { success: boolean; message: string; partner: { version: number; description: string } } | undefined,
    );
    const failures = results.filter((r, i) => r.body.errors || !answers[i]?.success).map((r) => JSON.stringify(r.body).slice(0, 200));
    expect(failures).toEqual([]);
    expect(answers.map((a) => a!.partner.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    for (const [i, a] of answers.entries()) expect(a!.partner.description).toBe(`update ${i}`);
    const stored = await row(id);
    expect(stored.version).toBe(101);
    // The last writer's value is the stored one: the update that answered version 101.
    expect(stored.description).toBe(answers.find((a) => a!.partner.version === 101)!.partner.description);
  });

  it('concurrent updates of different fields all land (no lost field), with one-coordinate moves keeping the geohash right', async () => {
    const id = (await backend.graphql(CREATE_PARTNER, { input: { ...seedPartnerInput, name: 'Fields' } }, admin)).body.data!.createPartner
      .partner.id as string;
    const patches = [
      { discount: 42 },
      { latitude: 45.764 },
      { longitude: 4.8357 },
      { description: 'both' },
      { phone: '04 72 00 00 00' },
      { email: 'a@b.fr' },
    ];
    const results = await Promise.all(patches.map((input) => backend.graphql(UPDATE, { id, input }, admin)));
    expect(results.map((r) => r.body.data?.updatePartner.success)).toEqual(patches.map(() => true));
    const stored = await row(id);
    expect(stored).toMatchObject({
      discount: 42,
      latitude: 45.764,
      longitude: 4.8357,
      description: 'both',
      phone: '04 72 00 00 00',
      email: 'a@b.fr',
      version: 1 + patches.length,
    });
    expect(stored.geohash).toBe(encodeGeohash(45.764, 4.8357, 9));
    expect(stored.geoPartition).toBe(encodeGeohash(45.764, 4.8357, 3));
  });
});
