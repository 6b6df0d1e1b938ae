/**
 * Many subscribed simulated connections (harness/apiGateway/websocket/simulated.ts) on an in-process emulator, for
 * figures 5 and 6: each runs the real `$connect` (token verification, its DynamoDB write) and a `subscribe` through
 * `$default`, without a socket, so tens of thousands fit in this process.
 */
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator, type EmulatorOptions } from '../harness/emulator.js';
import type { SimulatedClient } from '../harness/apiGateway/websocket/api.js';
import type { SimulatedClientEvents } from '../harness/apiGateway/websocket/simulated.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';

export const SIMULATED_SECRET = 'bench-secret';
const root = fileURLToPath(new URL('..', import.meta.url));
/** Connections opened at once: enough to keep the containers busy, few enough not to queue thousands of promises. */
const IN_FLIGHT = 200;

export function startBenchEmulator(options: Partial<EmulatorOptions> = {}): Promise<Emulator> {
  return startEmulator({
    projectRoot: root,
    environment: { JWT_SECRET: SIMULATED_SECRET, LOG_LEVEL: 'WARN' },
    latency: 'none',
    // The connection quota (500/s on AWS, on the emulated clock) is not what these figures measure.
    maxConnectionsPerSecond: 1_000_000_000,
    ...options,
  });
}

/**
 * Opens `count` simulated connections, one user each (the app caps a user's connections), connection `i`
 * subscribed with `subscription(i)`; resolves once every one is acknowledged. Frames land in `onFrame`.
 */
export async function openSubscribed(
  emulator: Emulator,
  count: number,
  subscription: (index: number) => Record<string, unknown>,
  onFrame: (index: number, text: string) => void = () => undefined,
): Promise<SimulatedClient[]> {
  const clients: SimulatedClient[] = new Array(count);
  for (let start = 0; start < count; start += IN_FLIGHT) {
    await Promise.all(
      Array.from({ length: Math.min(IN_FLIGHT, count - start) }, async (_, j) => {
        const i = start + j;
        const token = await signDevelopmentToken({ sub: `sim-${i}`, role: 'user' }, SIMULATED_SECRET);
        const end = new BenchClientEnd(i, onFrame);
        const opened = await emulator.websocketApi.simulated.connect({ query: `token=${token}`, headers: { 'User-Agent': 'bench' } }, end);
        if (!opened.ok) throw new Error(`simulated connection ${i} refused: ${opened.status}`);
        // send resolves once the $default invocation has finished, so its answer frame has arrived by then.
        await opened.client.send(JSON.stringify({ type: 'subscribe', data: subscription(i) }));
        if (!end.acknowledged) throw new Error(`simulated connection ${i}: subscribe not acknowledged`);
        clients[i] = opened.client;
      }),
    );
  }
  return clients;
}

/**
 * The bench's end of one connection. A class, its method shared: figure 6 counts the client end too, and a closure
 * per connection (with tsx's keep-names transform, a property dictionary per closure) was the bench's own weight.
 */
class BenchClientEnd implements SimulatedClientEvents {
  acknowledged = false;
  readonly #index: number;
  readonly #frames: (index: number, text: string) => void;

  constructor(index: number, frames: (index: number, text: string) => void) {
    this.#index = index;
    this.#frames = frames;
  }

  onFrame(text: string): void {
    if (!this.acknowledged && text.includes('"subscribed"')) this.acknowledged = true;
    this.#frames(this.#index, text);
  }
}
