/**
 * `npm run bench [-- --json] [-- --scale <f>]`: the emulator's speed figures, each against its goal and, where there
 * is one, a baseline measured side by side in the same run (these machines are noisy, so absolute numbers from
 * another run mean little). Prints a table; with --json, one JSON object on stdout and everything else on stderr.
 * --scale multiplies the client counts (10,000 in-process, 5,000 against `emulate`) for smaller machines.
 */
import { parseArgs } from 'node:util';
import { cpus, loadavg } from 'node:os';
import { benchPostFromLambda, benchPostToConnection } from './postToConnection.bench.js';
import { inProcessFanout, rawBroadcast, fanoutThrough, emulatorCostMs, BENCH_SECRET, type FanoutRun } from './fanout.bench.js';
import { emulateStartToFirstAnswer, graphqlQuery, minimalServerStartToFirstAnswer, startEmulate, treeRssMb } from './emulate.bench.js';
import { functionalSuiteWallSeconds } from './scenarios.bench.js';
import { figure, median, notMeasured, table, type Figure } from './figures.js';
import { startFleet } from './fleet.js';
import { benchReadCapacity } from './capacity.bench.js';
import { benchHeapPerConnection } from './simulatedHeap.bench.js';
import { benchBurst, benchLoss, benchMutationLatency } from './notifier.bench.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';

const USAGE = `Usage: npm run bench -- [--json] [--scale <f>] [--only <ids>]
  --json        One JSON object on stdout (figures with value, unit, baseline, ratio, goal, ofGoal, met); progress on stderr
  --scale <f>   Multiply the client counts (10,000 in-process, 5,000 against emulate). Default 1; e.g. 0.2
  --only <ids>  Measure only these figures, comma-separated (e.g. 1,2 or 4a,5): the parts that produce them run`;

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    scale: { type: 'string', default: '1' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const FIGURE_IDS = ['1', '2', '3', '4a', '4b', '4c', '4d', '5', '6', '7', '8a', '8b', '10a', '10b', '10c'];
const only = values.only
  ?.split(',')
  .map((id) => id.trim())
  .filter(Boolean);
const unknownIds = only?.filter((id) => !FIGURE_IDS.includes(id));
if (only && (only.length === 0 || unknownIds!.length > 0)) {
  console.error(`--only takes figure ids among ${FIGURE_IDS.join(', ')}; got "${values.only}"\n\n${USAGE}`);
  process.exit(2);
}
const scale = Number(values.scale);
if (!Number.isFinite(scale) || scale <= 0 || scale > 10) {
  console.error(`--scale must be a number above 0 and at most 10, got "${values.scale}"\n\n${USAGE}`);
  process.exit(2);
}

// With --json, stdout carries the one JSON object: anything else written to it (our progress, handlers' console
// output forwarded from their worker threads) goes to stderr.
const writeStdout = process.stdout.write.bind(process.stdout);
if (values.json) process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
const progress = (line: string): void => void process.stderr.write(`· ${line}\n`);

const inProcessClients = Math.max(10, Math.round(10_000 * scale));
const emulateClients = Math.max(10, Math.round(5_000 * scale));
const START_RUNS = 5;
/** Timed mutations in figures 1–2 (after one warm-up), and broadcasts in their baselines: each figure is the median. */
const FANOUT_RUNS = 5;
const figures: Figure[] = [];
const fleet = await startFleet();

/** Runs one part; a part that throws yields its figures as not measured, with the reason, and the run goes on. */
async function part(name: string, run: () => Promise<void>, fallback: (why: string) => Figure[]): Promise<void> {
  // The figures a part yields are those its fallback names: with --only, a part yielding none of them is skipped.
  if (only && !fallback('').some((f) => only.includes(f.id))) return;
  progress(name);
  try {
    await run();
  } catch (error) {
    const why = `failed: ${(error as Error).message.split('\n')[0]}`;
    progress(`${name} ${why}`);
    figures.push(...fallback(why));
  }
}

/**
 * Figures 1–2 time mutation sent → last client received, less the time the stream's event source mapping held the
 * record before invoking the notifier (shard polling and serverless.yml's batchWindow, which AWS applies as well):
 * what is left is the emulator's own cost. Each is the median of FANOUT_RUNS mutations, its baseline the median of as
 * many broadcasts; the note gives the median mutation's whole time and where it went, and every run's cost.
 */
const heldNote = (run: FanoutRun, raw: { all: number[] }): string =>
  `median of ${run.timed.length} mutations (${run.timed.map((t) => Math.round(emulatorCostMs(t))).join(', ')} ms; raw broadcasts ${raw.all.map((ms) => ms.toFixed(1)).join(', ')} ms): whole ${Math.round(run.ms)} ms, of which the stream mapping held the record ${Math.round(run.heldInStreamMs)} ms (polling + batchWindow) before the notifier ran; then ${run.stages}`;

// 3. postToConnection through the real SDK client.
const fig3 = {
  id: '3',
  title: 'postToConnection/s from a handler in a Lambda container, real SDK client, in-process management API',
  unit: 'calls/s',
  goal: { of: 'value' as const, min: 20_000 },
};
await part(
  'postToConnection throughput',
  async () => {
    const posts = await benchPostToConnection();
    const fromLambda = await benchPostFromLambda();
    figures.push(
      figure({
        ...fig3,
        value: fromLambda,
        baseline: { value: posts.http, unit: 'calls/s', what: 'the same management API over loopback HTTP' },
        note: `same thread, fast path ${Math.round(posts.fast)}/s; SDK wire path without a socket ${Math.round(posts.wire)}/s`,
      }),
    );
  },
  (why) => [notMeasured(fig3, why)],
);

// 1. Fanout, emulator in this process, vs a raw ws broadcast to as many loopback clients.
const fig1 = {
  id: '1',
  title: `fanout: one createPartner → ${inProcessClients.toLocaleString('en-US')} subscribed clients, emulator in-process (latency none; less the stream's batching window)`,
  unit: 'ms',
  goal: { of: 'ratio' as const, max: 2 },
};
await part(
  'fanout in-process',
  async () => {
    const raw = await rawBroadcast(fleet, inProcessClients, FANOUT_RUNS);
    const run = await inProcessFanout(fleet, inProcessClients, FANOUT_RUNS);
    figures.push(
      figure({
        ...fig1,
        value: emulatorCostMs(run),
        baseline: {
          value: raw.ms,
          unit: 'ms',
          what: `raw ws broadcast of one message to ${inProcessClients.toLocaleString('en-US')} loopback clients`,
        },
        note: `${heldNote(run, raw)}; mutation answered after ${Math.round(run.mutationMs)} ms; set-up: ${Math.round(run.connect.opened / run.connect.seconds)} handshakes/s, ${Math.round(inProcessClients / run.subscribeSeconds)} subscribes/s`,
      }),
    );
  },
  (why) => [notMeasured(fig1, why)],
);

// 4a. emulate start → first answered GraphQL request, against a minimal server started the same way (alternating).
const fig4a = {
  id: '4a',
  title:
    "`emulate` start → first answered GraphQL request (median of 5; the graphql container's cold start runs during start-up and is included)",
  unit: 'ms',
  goal: { of: 'value' as const, max: 500 },
};
await part(
  'emulate start-up',
  async () => {
    const emulate: number[] = [];
    const minimal: number[] = [];
    for (let i = 0; i < START_RUNS; i++) {
      emulate.push(await emulateStartToFirstAnswer());
      minimal.push(await minimalServerStartToFirstAnswer());
    }
    figures.push(
      figure({
        ...fig4a,
        value: median(emulate),
        baseline: { value: median(minimal), unit: 'ms', what: 'a minimal node:http + ws server, spawn → first answer' },
        note: `emulate runs: ${emulate.map(Math.round).join(', ')} ms`,
      }),
    );
  },
  (why) => [notMeasured(fig4a, why)],
);

// 2, 4b, 4c, 4d, 8a, 8b: `emulate` as a separate process with N real subscribed sockets.
const fig2 = {
  id: '2',
  title: `fanout on \`emulate\` (separate process, latency none; less the stream's batching window): one createPartner → ${emulateClients.toLocaleString('en-US')} real ws clients`,
  unit: 'ms',
  goal: { of: 'ratio' as const, max: 2 },
};
const fig4b = {
  id: '4b',
  title: `emulate's RSS (process tree) holding ${emulateClients.toLocaleString('en-US')} subscribed sockets`,
  unit: 'MB',
  goal: { of: 'value' as const, max: 300 },
};
const fig4c = {
  id: '4c',
  title: `emulate's peak RSS while all ${emulateClients.toLocaleString('en-US')} sockets drop at once`,
  unit: 'MB',
  goal: { of: 'value' as const, max: 500 },
};
const fig4d = {
  id: '4d',
  title: 'a GraphQL request sent right as they drop: answered after',
  unit: 'ms',
  goal: { of: 'value' as const, max: 1000 },
};
const fig8a = {
  id: '8a',
  title: 'handshakes/s `emulate` completes ($connect with token verification and its DynamoDB write; 64 in flight)',
  unit: '/s',
  goal: { of: 'value' as const, min: 500 },
};
const fig8b = {
  id: '8b',
  title: 'subscribe messages/s `emulate` acknowledges ($default invocation with its writes; all sent at once)',
  unit: '/s',
  goal: { of: 'value' as const, min: 500 },
};
await part(
  `emulate with ${emulateClients} clients`,
  async () => {
    const emulate = await startEmulate(['--max-connections-per-second', '1000000']);
    try {
      const run = await fanoutThrough(fleet, emulate, emulateClients, BENCH_SECRET, FANOUT_RUNS);
      const holding = treeRssMb(emulate.child.pid!);
      figures.push(
        figure({
          ...fig8a,
          value: run.connect.opened / run.connect.seconds,
          note: 'default 4 containers per function; --max-connections-per-second 1000000 so the quota is not what is measured',
        }),
        figure({ ...fig8b, value: emulateClients / run.subscribeSeconds }),
        figure({ ...fig4b, value: holding }),
      );
      // Drop them all at once, ask GraphQL right away, and sample the tree's memory until every $disconnect ran.
      const token = await signDevelopmentToken({ sub: 'after-drop', role: 'user' }, BENCH_SECRET);
      let peak = holding;
      const sampler = setInterval(() => (peak = Math.max(peak, treeRssMb(emulate.child.pid!))), 100);
      try {
        await fleet.closeAll();
        const sent = performance.now();
        await graphqlQuery(emulate.graphqlUrl, token);
        const answeredMs = performance.now() - sent;
        for (let waited = 0; waited < 120; waited++) {
          const health = (await (await fetch(emulate.healthUrl)).json()) as { connections: number };
          if (health.connections === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        peak = Math.max(peak, treeRssMb(emulate.child.pid!));
        figures.push(figure({ ...fig4d, value: answeredMs }), figure({ ...fig4c, value: peak }));
      } finally {
        clearInterval(sampler);
      }
      const raw = await rawBroadcast(fleet, emulateClients, FANOUT_RUNS);
      figures.push(
        figure({
          ...fig2,
          value: emulatorCostMs(run),
          baseline: { value: raw.ms, unit: 'ms', what: `raw ws broadcast to ${emulateClients.toLocaleString('en-US')} loopback clients` },
          note: `${heldNote(run, raw)}; mutation answered after ${Math.round(run.mutationMs)} ms`,
        }),
      );
    } finally {
      await emulate.stop();
    }
  },
  (why) =>
    [fig2, fig4b, fig4c, fig4d, fig8a, fig8b].filter((f) => !figures.some((done) => done.id === f.id)).map((f) => notMeasured(f, why)),
);

// 5. Read capacity per targeted notification, simulated connections over 100 cities (bench/capacity.bench.ts).
const capacityConnections = Math.max(100, Math.round(20_000 * scale));
const fig5 = {
  id: '5',
  title: `DynamoDB read capacity of one targeted notification, ${capacityConnections.toLocaleString('en-US')} simulated connections over 100 cities, vs the matching items' size`,
  unit: 'RCU',
  goal: { of: 'ratio' as const, max: 1.2 },
};
await part(
  'read capacity per notification',
  async () => {
    const run = await benchReadCapacity(capacityConnections, 100);
    const reads = Object.entries(run.reads)
      .map(([operation, n]) => `${n} ${operation}`)
      .join(', ');
    figures.push(
      figure({
        ...fig5,
        value: run.consumed,
        baseline: {
          value: run.matchingUnits,
          unit: 'RCU',
          what: `one eventually consistent page of the ${run.matchingItems} matching items (of ${run.tableItems} in the table, a Scan: ${run.tableUnits} RCU)`,
        },
        note: `notifier's reads: ${reads}, replayed with ReturnConsumedCapacity (dynalite: ${run.dynaliteConsumed} RCU); ${run.emptyReads} returned nothing, each billed DynamoDB's minimum; ${run.delivered} of ${run.audience} delivered`,
      }),
    );
  },
  (why) => [notMeasured(fig5, why)],
);

// 6. Heap per simulated connection (bench/simulatedHeap.bench.ts).
const heapConnections = Math.max(100, Math.round(50_000 * scale));
const fig6 = {
  id: '6',
  title: `heap per simulated connection at ${heapConnections.toLocaleString('en-US')} subscribed (registry, dynalite rows, event log, client end)`,
  unit: 'KB',
  goal: { of: 'value' as const, max: 10 },
};
await part(
  'heap per simulated connection',
  async () => {
    const run = await benchHeapPerConnection(heapConnections);
    figures.push(
      figure({
        ...fig6,
        value: run.bytesPerConnection / 1024,
        note: `heapUsed after forced GC, minus the same with none; RSS grew ${(run.rssBytesPerConnection / 1024).toFixed(1)} KB per connection (worker heaps and buffers too); the API's idle timeout raised for the set-up, slower here than AWS's 10 minutes allow`,
      }),
    );
  },
  (why) => [notMeasured(fig6, why)],
);

// 7. The functional scenario suite.
const fig7 = {
  id: '7',
  title: 'functional scenario suite (scenarios/functional), wall time as a whole process',
  unit: 's',
  goal: { of: 'value' as const, max: 15 },
};
await part(
  'functional scenario suite',
  async () => {
    const suite = await functionalSuiteWallSeconds();
    if (suite.exitCode !== 0) figures.push(notMeasured(fig7, `the suite failed (exit ${suite.exitCode}): ${suite.tail}`));
    else figures.push(figure({ ...fig7, value: suite.seconds, note: `scenarios started ${suite.order}` }));
  },
  (why) => [notMeasured(fig7, why)],
);

// Issue 10's goals for the stream-fed notifier (bench/notifier.bench.ts), in the same table.
const notifierAudience = Math.max(10, Math.round(Number(process.env.BENCH_SUBSCRIBERS ?? 2_000) * scale));
const fig10a = {
  id: '10a',
  title: `createPartner answer p95 with ${notifierAudience.toLocaleString('en-US')} subscribers vs with none (latency none)`,
  unit: 'ms',
  goal: { of: 'ratio' as const, max: 1.2 },
};
await part(
  'notifier: mutation latency',
  async () => {
    const none = await benchMutationLatency(0);
    const many = await benchMutationLatency(notifierAudience);
    figures.push(
      figure({ ...fig10a, value: many.p95Ms, baseline: { value: none.p95Ms, unit: 'ms', what: 'the same mutation with no subscriber' } }),
    );
  },
  (why) => [notMeasured(fig10a, why)],
);
const burstAudience = Math.max(10, Math.round(1_000 * scale));
const fig10b = {
  id: '10b',
  title: `postToConnection calls of a burst of 100 mutations to ${burstAudience.toLocaleString('en-US')} cache_invalidation subscribers vs one message per mutation`,
  unit: 'calls',
  goal: { of: 'ratio' as const, max: 0.1 },
};
await part(
  'notifier: burst batching',
  async () => {
    const burst = await benchBurst(burstAudience, 100);
    figures.push(
      figure({
        ...fig10b,
        value: burst.posts,
        baseline: { value: burst.unbatched, unit: 'calls', what: 'one message per mutation per subscriber' },
      }),
    );
  },
  (why) => [notMeasured(fig10b, why)],
);
const lossConnections = Math.max(10, Math.round(1_000 * scale));
const fig10c = {
  id: '10c',
  title: `notifications lost: ${lossConnections.toLocaleString('en-US')} connections × 50 mutations, 10% of posts 429/500, notifier killed mid-batch, a record failing twice`,
  unit: 'lost',
  goal: { of: 'value' as const, max: 0 },
};
await part(
  'notifier: no loss under faults',
  async () => {
    const loss = await benchLoss(lossConnections, 50);
    figures.push(
      figure({
        ...fig10c,
        value: loss.lost,
        note: `${loss.expected} expected; ${loss.duplicates} duplicates (same eventId); ${loss.failedPosts} posts answered 429/500`,
      }),
    );
  },
  (why) => [notMeasured(fig10c, why)],
);

await fleet.stop();
figures.sort((a, b) => FIGURE_IDS.indexOf(a.id) - FIGURE_IDS.indexOf(b.id));
if (only) figures.splice(0, figures.length, ...figures.filter((f) => only.includes(f.id)));
const machine = { cpus: cpus().length, loadAverage1m: Number(loadavg()[0].toFixed(2)), node: process.version };
if (values.json) {
  writeStdout(`${JSON.stringify({ scale, clients: { inProcess: inProcessClients, emulate: emulateClients }, machine, figures })}\n`);
} else {
  console.log(
    `npm run bench — scale ${scale} (${inProcessClients.toLocaleString('en-US')} in-process clients, ${emulateClients.toLocaleString('en-US')} against emulate); ${machine.cpus} CPUs, load ${machine.loadAverage1m}, Node ${machine.node}\n`,
  );
  console.log(table(figures));
  console.log(`\n${figures.filter((f) => f.met).length} of ${figures.length} goals met`);
}
process.exit(0);
