/**
 * `tsx bench/memory.ts [--clients N] [--runs N] [--report] [-- emulate flags…]`: figures 4b and 4c alone — `emulate`
 * spawned as `npm run emulate` runs it, its process tree's resident memory at idle after start-up, holding N
 * subscribed sockets (after the fanout bench/run.ts runs through them) and its peak while they all drop.
 * --hold <s> keeps the sockets open that long before dropping them (to look at the process meanwhile).
 * --snapshot writes a heap snapshot of its main thread holding the sockets.
 * --report writes node's diagnostic report (main heap and each container's heap) at each step, for a breakdown.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import { graphqlQuery, startEmulate, treeRssMb, type EmulateProcess } from './emulate.bench.js';
import { BENCH_SECRET, fanoutThrough } from './fanout.bench.js';
import { median } from './figures.js';
import { startFleet, type Fleet } from './fleet.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    clients: { type: 'string', default: '500' },
    runs: { type: 'string', default: '1' },
    report: { type: 'boolean', default: false },
    snapshot: { type: 'boolean', default: false },
    hold: { type: 'string', default: '0' },
  },
});
const clients = Number(values.clients);
const runs = Number(values.runs);

interface Report {
  header: { threadId: number | null };
  javascriptHeap: { totalMemory: number; usedMemory: number; externalMemory?: number };
  resourceUsage: { rss?: number; maxRss?: number };
  workers: Report[];
}

const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024);

/** Node's diagnostic report of the emulate process (SIGUSR2), summarised: main heap, containers' heaps. */
async function report(emulate: EmulateProcess, dir: string, label: string): Promise<unknown> {
  const before = new Set(readdirSync(dir));
  emulate.child.kill('SIGUSR2');
  for (let i = 0; i < 100; i++) {
    const file = readdirSync(dir).find((name) => !before.has(name));
    if (file) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const parsed = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Report;
      return {
        label,
        mainHeapMb: mb(parsed.javascriptHeap.totalMemory),
        mainHeapUsedMb: mb(parsed.javascriptHeap.usedMemory),
        workers: parsed.workers.length,
        workerHeapsMb: parsed.workers.map((w) => mb(w.javascriptHeap.totalMemory)),
        workerHeapTotalMb: mb(parsed.workers.reduce((sum, w) => sum + w.javascriptHeap.totalMemory, 0)),
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { label, report: 'none written' };
}

async function once(fleet: Fleet): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'emulate-report-'));
  const nodeArgs = values.report
    ? ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${dir}`]
    : values.snapshot
      ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`]
      : [];
  const emulate = await startEmulate(['--max-connections-per-second', '1000000', ...positionals], nodeArgs);
  try {
    const token = await signDevelopmentToken({ sub: 'idle', role: 'user' }, BENCH_SECRET);
    await graphqlQuery(emulate.graphqlUrl, token);
    // Pre-warming goes on after the ready line: idle is once it is over.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const idle = treeRssMb(emulate.child.pid!);
    if (values.report) console.error(JSON.stringify(await report(emulate, dir, 'idle')));
    const run = await fanoutThrough(fleet, emulate, clients, BENCH_SECRET);
    const holding = treeRssMb(emulate.child.pid!);
    if (values.report) console.error(JSON.stringify(await report(emulate, dir, `holding ${clients}`)));
    if (values.snapshot) {
      emulate.child.kill('SIGUSR2');
      // Written synchronously by the emulate process: it answers again once the snapshot is on disk.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await fetch(emulate.healthUrl);
      console.error(`heap snapshot in ${dir}`);
    }
    if (Number(values.hold) > 0) {
      console.error(`holding for ${values.hold} s: emulate's pid is ${emulate.child.pid}`);
      await new Promise((resolve) => setTimeout(resolve, Number(values.hold) * 1000));
    }
    let peak = holding;
    const sampler = setInterval(() => (peak = Math.max(peak, treeRssMb(emulate.child.pid!))), 100);
    let answeredMs = 0;
    try {
      await fleet.closeAll();
      const sent = performance.now();
      await graphqlQuery(emulate.graphqlUrl, token);
      answeredMs = performance.now() - sent;
      for (let waited = 0; waited < 240; waited++) {
        const health = (await (await fetch(emulate.healthUrl)).json()) as { connections: number };
        if (health.connections === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      peak = Math.max(peak, treeRssMb(emulate.child.pid!));
    } finally {
      clearInterval(sampler);
    }
    return {
      handshakesPerSecond: Math.round(run.connect.opened / run.connect.seconds),
      subscribesPerSecond: Math.round(clients / run.subscribeSeconds),
      idleMb: Math.round(idle),
      holdingMb: Math.round(holding),
      peakMb: Math.round(peak),
      answeredDuringDropMs: Math.round(answeredMs),
    };
  } finally {
    await emulate.stop();
  }
}

const fleet = await startFleet();
try {
  const results: Array<Record<string, number>> = [];
  for (let i = 0; i < runs; i++) {
    results.push(await once(fleet));
    console.error(JSON.stringify(results.at(-1)));
  }
  const pick = (key: string): number => Math.round(median(results.map((r) => r[key])));
  console.log(
    JSON.stringify({
      clients,
      idleMedianMb: pick('idleMb'),
      holdingMedianMb: pick('holdingMb'),
      peakMedianMb: pick('peakMb'),
      holdingRuns: results.map((r) => r.holdingMb),
      handshakesPerSecond: results.map((r) => r.handshakesPerSecond),
      subscribesPerSecond: results.map((r) => r.subscribesPerSecond),
      answeredDuringDropMs: results.map((r) => r.answeredDuringDropMs),
    }),
  );
} finally {
  await fleet.stop();
}
