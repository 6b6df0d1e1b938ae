/**
 * Figure 5: the DynamoDB read capacity one targeted notification consumes, against what the matching items' size
 * alone needs. `connections` simulated connections over `cities` cities, one city each; one createPartner in one
 * city; every read the handlers send to the connections table meanwhile is recorded (the emulator's DynamoDB request
 * observer) and replayed afterwards with ReturnConsumedCapacity TOTAL, so dynalite says what each page consumed
 * under DynamoDB's rules (a Query or Scan page: the summed size of the items it read, rounded up to 4 KB, 0.5 unit
 * per 4 KB eventually consistent, 1 strongly consistent). A Scan reads the whole table and is charged for it: the
 * ratio is what proves the notifier looks its subscribers up by key.
 */
import { createRequire } from 'node:module';
import {
  BatchGetItemCommand,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
  type AttributeValue,
  type ConsumedCapacity,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import { openSubscribed, SIMULATED_SECRET, startBenchEmulator } from './simulated.js';

export type Item = Record<string, AttributeValue>;
export interface ObservedRequest {
  operation: string;
  body: Record<string, unknown>;
}

/** dynalite's implementation of DynamoDB's item size rules (attribute names + values), the one it charges with. */
const dynaliteDb = createRequire(import.meta.url)('dynalite/db/index.js') as { itemSize(item: Item): number };
export const itemSize = (item: Item): number => dynaliteDb.itemSize(item);

export const READ_OPERATIONS = ['GetItem', 'BatchGetItem', 'Query', 'Scan'] as const;

/** The read requests among `requests` that touch `table`. */
export function readsOf(requests: readonly ObservedRequest[], table: string): ObservedRequest[] {
  return requests.filter(
    (r) =>
      (READ_OPERATIONS as readonly string[]).includes(r.operation) &&
      (r.body.TableName === table || Object.keys((r.body.RequestItems as object | undefined) ?? {}).includes(table)),
  );
}

/**
 * What each of `reads` consumed, replayed as sent (same key condition, same page start) with ReturnConsumedCapacity
 * TOTAL. Reads are side-effect free, so the replay consumes what the original did, on the same data.
 */
export async function consumedReadCapacity(client: DynamoDBClient, reads: readonly ObservedRequest[]): Promise<number[]> {
  const units: number[] = [];
  const sum = (capacity: ConsumedCapacity | ConsumedCapacity[] | undefined): void =>
    void units.push([capacity ?? []].flat().reduce((total, c) => total + (c.CapacityUnits ?? 0), 0));
  for (const read of reads) {
    // The body is the wire JSON, which is the low-level client's input shape.
    const input = { ...read.body, ReturnConsumedCapacity: 'TOTAL' } as never;
    if (read.operation === 'Query') sum((await client.send(new QueryCommand(input))).ConsumedCapacity);
    else if (read.operation === 'Scan') sum((await client.send(new ScanCommand(input))).ConsumedCapacity);
    else if (read.operation === 'GetItem') sum((await client.send(new GetItemCommand(input))).ConsumedCapacity);
    else sum((await client.send(new BatchGetItemCommand(input))).ConsumedCapacity);
  }
  return units;
}

/**
 * DynamoDB's Query reference: "Queries that do not return results consume the minimum read capacity units according
 * to the type of read" — half a unit eventually consistent, one strongly. dynalite charges them 0: the bench adds it.
 */
export function minimumReadUnits(read: ObservedRequest): number {
  return read.body.ConsistentRead === true ? 1 : 0.5;
}

/** The least an eventually consistent read of `items` can consume: one page holding exactly them. */
export function itemsReadCapacity(items: readonly Item[]): number {
  const bytes = items.reduce((total, item) => total + itemSize(item), 0);
  return Math.ceil(bytes / 4096) * 0.5;
}

/** Every item of `table` (the bench's own reads: the emulator's internal client, not observed). */
export async function allItems(client: DynamoDBClient, table: string): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

const cityName = (i: number): string => `Bench City ${i}`;

async function createPartnerIn(graphqlUrl: string, city: string): Promise<void> {
  const admin = await signDevelopmentToken({ sub: 'admin', role: 'admin' }, SIMULATED_SECRET);
  const response = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({
      query: 'mutation ($input: PartnerInput!) { createPartner(input: $input) { success partner { id } } }',
      variables: {
        input: {
          name: `Capacity ${city}`,
          category: 'Restaurant',
          address: '1 rue de Rivoli',
          city,
          zipCode: '75001',
          phone: '0142424242',
          discount: 10,
          latitude: 48.86,
          longitude: 2.34,
        },
      },
    }),
  });
  const body = (await response.json()) as { data?: { createPartner?: { success?: boolean } } };
  if (!body.data?.createPartner?.success) throw new Error(`createPartner failed: ${JSON.stringify(body)}`);
}

export interface CapacityRun {
  /** What the notifier's reads consume on DynamoDB: dynalite's figure, with DynamoDB's minimum for empty reads. */
  consumed: number;
  /** dynalite's figure alone (it charges a read that returned nothing 0 units). */
  dynaliteConsumed: number;
  /** Reads that returned no item. */
  emptyReads: number;
  matchingUnits: number;
  matchingItems: number;
  tableItems: number;
  /** What one Scan of the whole table would consume: what the figure would show without key lookups. */
  tableUnits: number;
  reads: Record<string, number>;
  delivered: number;
  audience: number;
}

export async function benchReadCapacity(connections: number, cities = 100): Promise<CapacityRun> {
  const observed: ObservedRequest[] = [];
  let recording = false;
  const emulator = await startBenchEmulator({
    onDynamoDBRequest: (request) => {
      if (recording) observed.push({ operation: request.operation, body: request.body });
    },
  });
  try {
    const target = 7 % cities;
    const audience = new Set<number>();
    let delivered = 0;
    const clients = await openSubscribed(
      emulator,
      connections,
      (i) => ({ topics: ['partners'], city: cityName(i % cities) }),
      (i, text) => {
        if (text.includes('"partner_updated"') && audience.has(i)) delivered++;
      },
    );
    for (let i = 0; i < connections; i++) if (i % cities === target) audience.add(i);
    const table = emulator.app.tables.find((t) => t.TableName.endsWith('-connections'))?.TableName;
    if (!table) throw new Error('no connections table in serverless.yml');
    await emulator.mappingsIdle();

    recording = true;
    await createPartnerIn(emulator.graphqlUrl, cityName(target));
    // The notifier runs on the stream: wait until its batch is over (and any retry with it).
    await emulator.mappingsIdle();
    recording = false;

    const reads = readsOf(observed, table);
    const perRead = await consumedReadCapacity(emulator.dynamodb.client, reads);
    const dynaliteConsumed = perRead.reduce((a, b) => a + b, 0);
    const emptyReads = perRead.filter((units) => units === 0).length;
    const consumed = perRead.reduce((total, units, i) => total + Math.max(units, minimumReadUnits(reads[i])), 0);
    const audienceIds = new Set(clients.filter((_, i) => audience.has(i)).map((c) => c.connectionId));
    const items = await allItems(emulator.dynamodb.client, table);
    // The matching items: the subscription rows (those with a target) of the connections in that city.
    const matching = items.filter((item) => item.target?.S !== undefined && audienceIds.has(item.connectionId?.S ?? ''));
    for (const client of clients) client.close();
    const count: Record<string, number> = {};
    for (const r of reads) count[r.operation] = (count[r.operation] ?? 0) + 1;
    return {
      consumed,
      dynaliteConsumed,
      emptyReads,
      matchingUnits: itemsReadCapacity(matching),
      matchingItems: matching.length,
      tableItems: items.length,
      tableUnits: itemsReadCapacity(items),
      reads: count,
      delivered,
      audience: audience.size,
    };
  } finally {
    await emulator.close();
  }
}
