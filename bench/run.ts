/**
 * `npm run bench`: speed figures as ratios against baselines measured in the same run (these machines are noisy,
 * so absolute numbers from another run mean little). Sizes: BENCH_POSTS (20,000), BENCH_CLIENTS (2,000),
 * BENCH_SUBSCRIBERS (10,000), BENCH_BURST_SUBSCRIBERS (1,000), BENCH_LOSS_CONNECTIONS (1,000), BENCH_LOSS_MUTATIONS (50).
 * `--json` prints every figure and each goal of issue 10 (with whether it is met) as one JSON document. Goals are
 * printed, never asserted in tests.
 */
import { benchPostFromLambda, benchPostToConnection } from './postToConnection.bench.js';
import { benchEmulatorFanout, benchRawBroadcast } from './fanout.bench.js';
import { benchBurst, benchLoss, benchMutationLatency } from './notifier.bench.js';

const json = process.argv.includes('--json');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const wanted = (name: string): boolean => !only || only.includes(name);
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const say = (text: string): void => {
  if (!json) console.log(text);
};
const figures: Record<string, unknown> = {};
const goals: Array<{ goal: string; measured: string; met: boolean }> = [];

if (wanted('posts')) {
  const posts = await benchPostToConnection();
  const fromLambda = await benchPostFromLambda();
  figures.postToConnection = { fromLambdaPerSecond: Math.round(fromLambda), fastPerSecond: Math.round(posts.fast), wirePerSecond: Math.round(posts.wire), httpPerSecond: Math.round(posts.http) };
  say(`postToConnection via the real SDK client, delivered to a real socket
  from a handler in a Lambda container:  ${fmt(fromLambda)} calls/s   (target ≥ 20,000; the path handlers use)
  in-process, fast path, same thread:    ${fmt(posts.fast)} calls/s
  in-process, wire mode (SDK serializes): ${fmt(posts.wire)} calls/s
  over HTTP on loopback (baseline):      ${fmt(posts.http)} calls/s
  ratio fast path / HTTP:                ${(posts.fast / posts.http).toFixed(1)}×`);
}

if (wanted('fanout')) {
  const clients = Number(process.env.BENCH_CLIENTS ?? 2000);
  const raw = await benchRawBroadcast();
  const fanout = await benchEmulatorFanout();
  figures.fanout = { clients, rawBroadcastMs: Math.round(raw), emulatorMs: Math.round(fanout.ms), mutationMs: Math.round(fanout.mutationMs) };
  say(`fanout of one notification to ${fmt(clients)} subscribed clients (through the stream and the notifier)
  raw ws broadcast (floor, baseline):    ${fmt(raw)} ms
  createPartner → all received:          ${fmt(fanout.ms)} ms  (mutation answered after ${fmt(fanout.mutationMs)} ms)
  ratio emulator / raw broadcast:        ${(fanout.ms / raw).toFixed(1)}×`);
}

if (wanted('latency')) {
  const audience = Number(process.env.BENCH_SUBSCRIBERS ?? 10_000);
  const none = await benchMutationLatency(0);
  const many = await benchMutationLatency(audience);
  const ratio = many.p95Ms / none.p95Ms;
  figures.mutationLatency = {
    profile: 'none',
    subscribers: audience,
    p95WithSubscribersMs: Math.round(many.p95Ms),
    p95WithoutMs: Math.round(none.p95Ms),
    ratio: Number(ratio.toFixed(2)),
    // Mutations issued while the previous fanout still runs on the same two cores (CPU contention, an emulator artefact).
    backToBackP95WithSubscribersMs: Math.round(many.backToBackP95Ms),
    backToBackP95WithoutMs: Math.round(none.backToBackP95Ms),
  };
  goals.push({
    goal: `createPartner answer p95 with ${fmt(audience)} subscribers ≤ 1.2 × its p95 with 0 (latency profile "none": the emulator has no "aws" profile yet)`,
    measured: `${fmt(many.p95Ms)} ms vs ${fmt(none.p95Ms)} ms = ${ratio.toFixed(2)}×`,
    met: ratio <= 1.2,
  });
  say(`createPartner answer p95: ${fmt(many.p95Ms)} ms with ${fmt(audience)} subscribers, ${fmt(none.p95Ms)} ms with none (${ratio.toFixed(2)}×); back to back, sharing the CPU with the fanout: ${fmt(many.backToBackP95Ms)} vs ${fmt(none.backToBackP95Ms)} ms`);
}

if (wanted('burst')) {
  const audience = Number(process.env.BENCH_BURST_SUBSCRIBERS ?? 1000);
  const burst = await benchBurst(audience, 100);
  const share = burst.posts / burst.unbatched;
  figures.burst = { mutations: 100, subscribers: audience, posts: burst.posts, oneMessagePerMutation: burst.unbatched, saved: burst.unbatched - burst.posts, framesReceived: burst.received };
  goals.push({
    goal: `a burst of 100 mutations to ${fmt(audience)} cache_invalidation subscribers uses ≤ 1/10 of the postToConnection calls of one message per mutation`,
    measured: `${fmt(burst.posts)} posts vs ${fmt(burst.unbatched)} (${(share * 100).toFixed(1)}%; ${fmt(burst.unbatched - burst.posts)} saved)`,
    met: share <= 0.1,
  });
  say(`burst of 100 mutations to ${fmt(audience)} cache_invalidation subscribers: ${fmt(burst.posts)} postToConnection calls instead of ${fmt(burst.unbatched)} (${(share * 100).toFixed(1)}%)`);
}

if (wanted('loss')) {
  const connections = Number(process.env.BENCH_LOSS_CONNECTIONS ?? 1000);
  const mutations = Number(process.env.BENCH_LOSS_MUTATIONS ?? 50);
  const loss = await benchLoss(connections, mutations);
  figures.loss = { connections, mutations, ...loss };
  goals.push({
    goal: `0 notifications lost to live connections (${fmt(connections)} connections × ${mutations} mutations; 10% of posts answer 429/500, the notifier killed mid-batch once, one record failing twice)`,
    measured: `${fmt(loss.lost)} lost of ${fmt(loss.expected)}; ${fmt(loss.duplicates)} duplicates (dropped by eventId); ${fmt(loss.failedPosts)} posts answered 429/500`,
    met: loss.lost === 0,
  });
  say(`lost notifications: ${fmt(loss.lost)} of ${fmt(loss.expected)} (${fmt(loss.duplicates)} duplicates, ${fmt(loss.failedPosts)} failed posts)`);
}

if (json) console.log(JSON.stringify({ figures, goals }, null, 2));
else for (const g of goals) console.log(`${g.met ? '✓' : '✗'} ${g.goal}: ${g.measured}`);
process.exit(0);
