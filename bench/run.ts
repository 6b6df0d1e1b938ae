/**
 * `npm run bench`: speed figures as ratios against baselines measured in the same run (these machines are noisy,
 * so absolute numbers from another run mean little). Sizes: BENCH_POSTS (20,000), BENCH_CLIENTS (2,000).
 */
import { benchPostFromLambda, benchPostToConnection } from './postToConnection.bench.js';
import { benchEmulatorFanout, benchRawBroadcast } from './fanout.bench.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

const posts = await benchPostToConnection();
const fromLambda = await benchPostFromLambda();
console.log(`postToConnection via the real SDK client, delivered to a real socket
  from a handler in a Lambda container:  ${fmt(fromLambda)} calls/s   (target ≥ 20,000; the path handlers use)
  in-process, fast path, same thread:    ${fmt(posts.fast)} calls/s
  in-process, wire mode (SDK serializes): ${fmt(posts.wire)} calls/s
  over HTTP on loopback (baseline):      ${fmt(posts.http)} calls/s
  ratio fast path / HTTP:                ${(posts.fast / posts.http).toFixed(1)}×`);

const clients = Number(process.env.BENCH_CLIENTS ?? 2000);
const raw = await benchRawBroadcast();
const fanout = await benchEmulatorFanout();
console.log(`fanout of one notification to ${fmt(clients)} subscribed clients
  raw ws broadcast (floor, baseline):    ${fmt(raw)} ms
  createPartner → all received:          ${fmt(fanout.ms)} ms  (mutation answered after ${fmt(fanout.mutationMs)} ms)
  ratio emulator / raw broadcast:        ${(fanout.ms / raw).toFixed(1)}×`);
process.exit(0);
