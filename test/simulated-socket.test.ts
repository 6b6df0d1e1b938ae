/**
 * The simulated client end of a WebSocket connection (harness/apiGateway/websocket/simulated.ts): frames reach the
 * client while open, every way of ending reports its close code to both sides once, on a later turn of the loop; and
 * the API's idle timeouts, which many such connections share one clock timer for.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedSocket } from '../harness/apiGateway/websocket/simulated.js';
import { createWebSocketApi } from '../harness/apiGateway/websocket/api.js';
import { createClock } from '../harness/clock.js';

const turn = () => new Promise((resolve) => setImmediate(resolve));

function pair() {
  const frames: string[] = [];
  const clientSaw: Array<[number, string]> = [];
  const serverSaw: Array<[string, number, string]> = [];
  const socket = new SimulatedSocket(
    { onFrame: (text) => frames.push(text), onClose: (code, reason) => clientSaw.push([code, reason]) },
    (owner: string, code, reason) => serverSaw.push([owner, code, reason]),
    'conn-1',
  );
  return { socket, frames, clientSaw, serverSaw };
}

describe('SimulatedSocket', () => {
  it('hands frames over while open, never buffers, and stops delivering once closed', async () => {
    const { socket, frames, serverSaw } = pair();
    expect(socket.readyState).toBe(1);
    expect(socket.bufferedAmount).toBe(0);
    socket.send('a');
    socket.close(1000, 'bye');
    expect(socket.readyState).toBe(3);
    socket.send('b');
    expect(frames).toEqual(['a']);
    // The API hears of the close on a later turn, as from a socket's 'close' event.
    expect(serverSaw).toEqual([]);
    await turn();
    expect(serverSaw).toEqual([['conn-1', 1000, 'bye']]);
  });

  it.each([
    ['server close without a code', (s: SimulatedSocket<string>) => s.close(), 1005, 1005],
    ['server terminate', (s: SimulatedSocket<string>) => s.terminate(), 1006, 1006],
    ['client close with a code', (s: SimulatedSocket<string>) => s.clientClose(4000, 'done'), 4000, 4000],
    ['client close without a code', (s: SimulatedSocket<string>) => s.clientClose(), 1005, 1005],
    ['client drop', (s: SimulatedSocket<string>) => s.clientDrop(), 1006, 1006],
  ])('%s: both ends see the code, once', async (_name, end, clientCode, serverCode) => {
    const { socket, clientSaw, serverSaw } = pair();
    end(socket);
    end(socket);
    socket.terminate();
    await turn();
    expect(clientSaw.map(([code]) => code)).toEqual([clientCode]);
    expect(serverSaw.map(([owner, code]) => [owner, code])).toEqual([['conn-1', serverCode]]);
  });
});

describe('idle timeouts of many connections (one timer for the whole API)', () => {
  it('close each connection 10 minutes after its own last message, in that order, and none early', async () => {
    const clock = createClock();
    const api = createWebSocketApi({
      invoke: async () => ({ ok: true, value: null, requestId: 'r', coldStart: false, durationMs: 0 }),
      routes: {},
      routeSelectionExpression: '$request.body.action',
      stage: 's',
      apiId: 'idle123456',
      region: 'eu-west-1',
      clock,
    });
    const closedOrder: string[] = [];
    const open = async (name: string) => {
      const opened = await api.simulated.connect({}, { onFrame: () => undefined, onClose: () => closedOrder.push(name) });
      if (!opened.ok) throw new Error(`refused ${opened.status}`);
      return opened.client;
    };
    const a = await open('a');
    clock.advance(60_000);
    const b = await open('b');
    const c = await open('c');
    clock.advance(4 * 60_000);
    await a.send('{"action":"x"}'); // a: idle from minute 5, b and c from minute 1
    // The clock also follows real time: checks stay a margin away from each deadline.
    const margin = 30_000;
    clock.advance(6 * 60_000 - margin);
    await turn();
    expect(closedOrder).toEqual([]);
    clock.advance(margin);
    await turn();
    expect(closedOrder.sort()).toEqual(['b', 'c']);
    await c.send('{"action":"x"}'); // too late: c is closing
    clock.advance(4 * 60_000 - margin);
    await turn();
    expect(closedOrder).toHaveLength(2);
    expect(api.connections.count()).toBe(1);
    clock.advance(margin);
    await turn();
    expect(closedOrder).toEqual(['b', 'c', 'a']);
    expect(api.connections.count()).toBe(0);
    // Activity after the last one closed arms the timer again.
    const d = await open('d');
    clock.advance(10 * 60_000);
    await turn();
    expect(closedOrder.at(-1)).toBe('d');
    b.close();
    d.close();
    await api.close();
  });
});
