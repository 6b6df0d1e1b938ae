/**
 * `tsx bench/throughput.ts [--clients N] [--cpu-prof DIR] [-- emulate flags…]`: figures 8a and 8b alone (handshakes
 * and subscribes per second against a separate `emulate`), for iterating on them and profiling them without the
 * whole `npm run bench`. With --cpu-prof, `emulate` runs under node's --cpu-prof and writes one profile per thread
 * (the main thread and each Lambda container) to DIR when it stops.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import { startEmulate } from './emulate.bench.js';
import { BENCH_SECRET } from './fanout.bench.js';
import { startFleet } from './fleet.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    clients: { type: 'string', default: '600' },
    'cpu-prof': { type: 'string' },
  },
});
const count = Number(values.clients);
if (!Number.isInteger(count) || count < 1) throw new Error(`--clients must be a positive integer, got "${values.clients}"`);

/** CPU seconds [user, system] a process has used so far, every thread included (Linux /proc). */
function cpuSplit(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const [utime, stime] = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .slice(11, 13)
    .map(Number);
  return [utime / 100, stime / 100];
}
const cpuSeconds = (pid: number): number => cpuSplit(pid)[0] + cpuSplit(pid)[1];

const fleet = await startFleet();
const emulate = await startEmulate(
  ['--max-connections-per-second', '1000000', ...positionals],
  values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [],
);
try {
  const tokens = await Promise.all(
    Array.from({ length: count }, (_, i) => signDevelopmentToken({ sub: `fan-${i}`, role: 'user' }, BENCH_SECRET)),
  );
  const pid = emulate.child.pid!;
  const cpu0 = cpuSeconds(pid);
  const split0 = cpuSplit(pid);
  const connect = await fleet.open(tokens.map((token) => `${emulate.wsUrl}?token=${token}`));
  if (connect.opened !== count)
    throw new Error(`${count - connect.opened} of ${count} could not connect: ${JSON.stringify(connect.refused)}`);
  const cpu1 = cpuSeconds(pid);
  const { seconds } = await fleet.sendAll(
    JSON.stringify({ type: 'subscribe', data: { topics: ['partners'], city: 'Paris' } }),
    '"subscribed"',
  );
  const cpu2 = cpuSeconds(pid);
  // CPU per operation is what bounds the rate on a given number of cores, and it is far less noisy than the rate.
  console.log(
    JSON.stringify({
      clients: count,
      handshakesPerSecond: Math.round(count / connect.seconds),
      subscribesPerSecond: Math.round(count / seconds),
      cpuMsPerHandshake: Number((((cpu1 - cpu0) * 1000) / count).toFixed(2)),
      cpuMsPerSubscribe: Number((((cpu2 - cpu1) * 1000) / count).toFixed(2)),
      // The kernel's share: thread wake-ups (MessagePort, Atomics.notify) and sockets.
      systemShare: Number(((cpuSplit(pid)[1] - split0[1]) / (cpu2 - cpu0)).toFixed(2)),
    }),
  );
  await fleet.closeAll();
} finally {
  await emulate.stop();
  await fleet.stop();
}
