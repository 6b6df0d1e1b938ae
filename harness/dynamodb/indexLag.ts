/**
 * Global secondary index lag, below the handlers' SDK. On DynamoDB a GSI is updated asynchronously: a write shows
 * in its indexes "within 1 second" (AWS re:Post, "dynamodb-missing-table-items-gsi"), and every GSI read is
 * eventually consistent. dynalite updates indexes at once, which hides "subscribe → immediate mutation" races.
 *
 * How: each table with GSIs gets a copy (the "index view") that receives every write's resulting item after the
 * lag, in write order; while a lag is set, Query and Scan on a GSI are answered from that copy. Base-table reads
 * stay immediate, as on DynamoDB. With no lag nothing is copied and nothing is rewritten.
 */
import type { AttributeValue, CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TableDefinition } from '../config/serverless.js';
import type { EventLog } from '../eventLog.js';
import { draw, type Delay } from '../latency.js';
import { dynamoDBSdk } from './sdk.js';

type Item = Record<string, AttributeValue>;
type Body = Record<string, unknown>;

const VIEW_SUFFIX = '.emulator-index-view';
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

/** A table's index updates not yet applied to its view, in write order (their due times never decrease). */
interface ViewQueue {
  lastDue: number;
  pending: Array<{ due: number; epoch: number; key: Item; image: Promise<Item | undefined> }>;
  draining: boolean;
  /** When the "falling behind" warning was last given (Date.now()). */
  warnedAt: number;
  timer?: NodeJS.Timeout | undefined;
}

const isOn = (lag: Delay): boolean => lag.baseMs > 0 || lag.jitterMs > 0;

export function createIndexLag(options: { client: DynamoDBClient; tables: TableDefinition[]; lag: Delay; eventLog?: EventLog }) {
  const { client } = options;
  // Loaded: the client in hand was made from it.
  const { BatchWriteItemCommand, CreateTableCommand, DescribeTableCommand, GetItemCommand, ResourceNotFoundException, ScanCommand } =
    dynamoDBSdk();
  const lagged = new Map(options.tables.filter((t) => t.GlobalSecondaryIndexes?.length).map((t) => [t.TableName, t]));
  const viewOf = (table: TableDefinition): string => `${table.TableName}${VIEW_SUFFIX}`;
  let lag = options.lag;
  let active = false;
  // Bumped whenever the views are rebuilt or dropped: copies scheduled before then are stale and skipped.
  let epoch = 0;
  const queues = new Map<string, ViewQueue>();
  const timers = new Set<NodeJS.Timeout>();
  const views = new Set<string>();
  // Image reads and view writes under way, so close() can let them finish before DynamoDB goes away.
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    void promise.catch(() => undefined).finally(() => inFlight.delete(promise));
    return promise;
  };

  const keyOf = (table: TableDefinition, item: Item): Item =>
    Object.fromEntries(table.KeySchema.map((k) => [k.AttributeName, item[k.AttributeName]!]));

  async function createView(table: TableDefinition): Promise<void> {
    const { logicalId: _id, TimeToLiveSpecification: _ttl, ...props } = table;
    try {
      await client.send(new CreateTableCommand({ ...(props as unknown as CreateTableCommandInput), TableName: viewOf(table) }));
    } catch (error) {
      if ((error as Error).name !== 'ResourceInUseException') throw error;
    }
    for (let i = 0; i < 100; i++) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: viewOf(table) }));
      if (Table?.TableStatus === 'ACTIVE') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    views.add(table.TableName);
  }

  async function scan(tableName: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async function batch(
    tableName: string,
    requests: Array<{ PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } }>,
  ): Promise<void> {
    for (let i = 0; i < requests.length; i += 25) {
      let chunk = requests.slice(i, i + 25);
      while (chunk.length) {
        const result = await client.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: chunk } }));
        chunk = (result.UnprocessedItems?.[tableName] ?? []) as typeof chunk;
      }
    }
  }

  /** Makes each view an exact copy of its table (the index has caught up). */
  async function rebuild(): Promise<void> {
    epoch++;
    queues.clear();
    for (const table of lagged.values()) {
      if (!views.has(table.TableName)) await createView(table);
      const stale = await scan(viewOf(table));
      await batch(
        viewOf(table),
        stale.map((item) => ({ DeleteRequest: { Key: keyOf(table, item) } })),
      );
      const current = await scan(table.TableName);
      await batch(
        viewOf(table),
        current.map((item) => ({ PutRequest: { Item: item } })),
      );
    }
  }

  /**
   * After the lag, the view gets the items as they were right after the write (or loses them). Updates due by the
   * time a drain runs are applied together — the last image per key, in BatchWriteItem chunks — so the view keeps up
   * with thousands of writes a second; applying them one call at a time once let it fall minutes behind under a load
   * run (10,000 subscribes), which no GSI on AWS does.
   */
  function schedule(table: TableDefinition, keys: Item[]): void {
    let queue = queues.get(table.TableName);
    if (!queue) queues.set(table.TableName, (queue = { lastDue: 0, pending: [], draining: false, warnedAt: 0 }));
    // Index updates apply in write order, so a later write never shows before an earlier one.
    const due = Math.max(queue.lastDue, Date.now() + draw(lag));
    queue.lastDue = due;
    for (const key of keys) {
      const image = track(
        client.send(new GetItemCommand({ TableName: table.TableName, Key: key, ConsistentRead: true })).then((r) => r.Item),
      );
      // A failed read is reported when its update is applied.
      void image.catch(() => undefined);
      queue.pending.push({ due, epoch, key, image });
    }
    arm(table, queue);
  }

  /** Wakes the table's drain when its oldest pending update is due (one timer per table). */
  function arm(table: TableDefinition, queue: ViewQueue): void {
    if (queue.draining || queue.timer || !queue.pending.length) return;
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        queue.timer = undefined;
        void drain(table, queue);
      },
      Math.max(0, queue.pending[0]!.due - Date.now()),
    );
    timer.unref();
    timers.add(timer);
    queue.timer = timer;
  }

  /**
   * Said out loud when this machine's DynamoDB cannot keep the view within the lag: reads of the index are then staler
   * than on AWS (harsher, but not what AWS does). Once per table every 30 s.
   */
  function warnIfBehind(table: TableDefinition, queue: ViewQueue, behindMs: number): void {
    if (behindMs < 2000 || Date.now() - queue.warnedAt < 30_000) return;
    queue.warnedAt = Date.now();
    options.eventLog?.record({
      kind: 'fault',
      description: `index lag: the emulated indexes of ${table.TableName} are ${(behindMs / 1000).toFixed(1)} s behind their lag (this machine's DynamoDB cannot keep up); AWS propagates to a GSI within about a second, so index reads here are staler than on AWS`,
    });
  }

  async function drain(table: TableDefinition, queue: ViewQueue): Promise<void> {
    queue.draining = true;
    try {
      const now = Date.now();
      let n = 0;
      while (n < queue.pending.length && queue.pending[n]!.due <= now) n++;
      const due = queue.pending.splice(0, n).filter((u) => u.epoch === epoch);
      warnIfBehind(table, queue, due[0] ? now - due[0].due : 0);
      const latest = new Map<string, { key: Item; item: Item | undefined }>();
      for (const update of due) {
        const id = JSON.stringify(update.key);
        latest.delete(id); // keep write order: a re-written key moves to the end
        latest.set(id, { key: update.key, item: await update.image });
      }
      const requests = [...latest.values()].map(({ key, item }) =>
        item ? { PutRequest: { Item: item } } : { DeleteRequest: { Key: key } },
      );
      if (requests.length && due.every((u) => u.epoch === epoch)) await track(batch(viewOf(table), requests));
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException))
        options.eventLog?.record({
          kind: 'fault',
          description: `index lag: could not update ${viewOf(table)}: ${(error as Error).message}`,
        });
    } finally {
      queue.draining = false;
      arm(table, queue);
    }
  }

  /** The keys a write request touches, by table (only tables with GSIs). */
  function writtenKeys(operation: string, body: Body): Map<TableDefinition, Item[]> {
    const touched = new Map<TableDefinition, Item[]>();
    const add = (tableName: unknown, key: Item | undefined, item?: Item): void => {
      const table = typeof tableName === 'string' ? lagged.get(tableName) : undefined;
      if (!table) return;
      const k = key ?? (item ? keyOf(table, item) : undefined);
      if (k) touched.set(table, [...(touched.get(table) ?? []), k]);
    };
    if (operation === 'PutItem') add(body.TableName, undefined, body.Item as Item);
    else if (operation === 'UpdateItem' || operation === 'DeleteItem') add(body.TableName, body.Key as Item);
    else if (operation === 'BatchWriteItem') {
      for (const [tableName, requests] of Object.entries(
        (body.RequestItems ?? {}) as Record<string, Array<{ PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }>>,
      )) {
        for (const r of requests) add(tableName, r.DeleteRequest?.Key, r.PutRequest?.Item);
      }
    } else if (operation === 'TransactWriteItems') {
      for (const t of (body.TransactItems ?? []) as Array<Record<string, { TableName: string; Item?: Item; Key?: Item }>>) {
        const w = t.Put ?? t.Update ?? t.Delete;
        if (w) add(w.TableName, w.Key, w.Item);
      }
    }
    return touched;
  }

  return {
    get lag(): Delay {
      return lag;
    },
    /** Sets the lag; turning it on builds the views from the tables (the indexes start caught up). */
    async set(next: Delay): Promise<void> {
      if (!(next.baseMs >= 0 && next.jitterMs >= 0)) throw new Error(`Index lag must be ≥ 0 ms, got ${JSON.stringify(next)}`);
      const wasOn = active;
      lag = next;
      if (!isOn(next)) {
        active = false;
        epoch++;
      } else if (!wasOn && lagged.size) {
        await rebuild();
        active = true;
      }
      if (isOn(next) !== wasOn)
        options.eventLog?.record({
          kind: 'fault',
          description: `DynamoDB global secondary indexes lag writes by ${next.baseMs}${next.jitterMs ? `–${next.baseMs + next.jitterMs}` : ''} ms`,
        });
    },
    /** A Query or Scan of a GSI, pointed at the lagging view; undefined when the request is left as it is. */
    rewriteRead(operation: string, body: Body): Body | undefined {
      if (!active || (operation !== 'Query' && operation !== 'Scan') || typeof body.IndexName !== 'string') return undefined;
      const table = typeof body.TableName === 'string' ? lagged.get(body.TableName) : undefined;
      if (!table?.GlobalSecondaryIndexes?.some((i) => i.IndexName === body.IndexName)) return undefined;
      return { ...body, TableName: viewOf(table) };
    },
    /** For a write: what to call once it succeeded (schedules the index update), or undefined. */
    beforeWrite(operation: string, body: Body): (() => void) | undefined {
      if (!active || !WRITES.has(operation)) return undefined;
      const touched = writtenKeys(operation, body);
      if (!touched.size) return undefined;
      return () => {
        for (const [table, keys] of touched) schedule(table, keys);
      };
    },
    /** Deletions the emulator made itself (TTL expiry) reach the indexes after the lag, like any write. */
    afterInternalDelete(tableName: string, keys: Item[]): void {
      const table = lagged.get(tableName);
      if (active && table && keys.length) schedule(table, keys);
    },
    /** After the emulator's own changes (truncate): the views catch up at once. */
    async resync(): Promise<void> {
      if (active) await rebuild();
    },
    /** Stops scheduled index updates and waits for those under way. */
    async close(): Promise<void> {
      epoch++;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...inFlight]);
    },
  };
}
