/**
 * Figure 6: heap per simulated connection. heapUsed after a forced full GC with `count` subscribed simulated
 * connections, minus the same with none (the emulator started, its containers warmed by one connection that then
 * closed), divided by `count`. What is counted: this thread's V8 heap — the WebSocket API's registry entry and
 * simulated socket, the embedded dynalite's records (each connection's META row, its subscription row, the user's
 * slot row, and their byTarget index entries), the event log's entries for the connect and the subscribe (at most
 * its capacity, 100,000 events: at 50,000 connections the log holds the last few thousand connections' 14 each), and
 * the bench's own client end (its SimulatedClient and BenchClientEnd). Not counted: the handlers' worker-thread heaps
 * (separate V8 isolates; the handlers keep no per-connection state) and off-heap buffers; the RSS delta, which
 * includes both, is reported beside it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { openSubscribed, startBenchEmulator } from './simulated.js';

/** A full GC: `global.gc` under --expose-gc, otherwise the flag set at run time (V8 then exposes gc in new contexts). */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function settledHeap(gc: () => void): Promise<{ heap: number; rss: number }> {
  // Several passes, a turn of the event loop between them: weak callbacks and finalizers free more on the next pass.
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const memory = process.memoryUsage();
  return { heap: memory.heapUsed, rss: memory.rss };
}

export async function benchHeapPerConnection(count: number): Promise<{ bytesPerConnection: number; rssBytesPerConnection: number }> {
  const gc = collector();
  // At 50,000 the set-up takes longer here than API Gateway's 10-minute idle timeout (on AWS, at its 500 new
  // connections a second, under two minutes): the first connections would be closed idle before the measure.
  const emulator = await startBenchEmulator({ websocketIdleTimeoutMs: 6 * 60 * 60 * 1000 });
  try {
    // Warm the $connect and $default containers, so their start-up is not in the figure; then back to none.
    const [warm] = await openSubscribed(emulator, 1, () => ({ topics: ['partners'], city: 'Warm-up' }));
    warm.close();
    for (let waited = 0; emulator.websocketApi.connections.count() > 0 && waited < 5_000; waited += 10)
      await new Promise((resolve) => setTimeout(resolve, 10));
    await emulator.mappingsIdle();
    const before = await settledHeap(gc);
    const clients = await openSubscribed(emulator, count, (i) => ({ topics: ['partners'], city: `Heap City ${i % 100}` }));
    await emulator.mappingsIdle();
    const after = await settledHeap(gc);
    if (emulator.websocketApi.connections.count() !== count)
      throw new Error(`${emulator.websocketApi.connections.count()} connections open, expected ${count}`);
    for (const client of clients) client.close();
    return { bytesPerConnection: (after.heap - before.heap) / count, rssBytesPerConnection: (after.rss - before.rss) / count };
  } finally {
    await emulator.close();
  }
}
