/**
 * The simulated client end of a WebSocket connection (harness/apiGateway/websocket/simulated.ts): frames reach the
 * client while open, every way of ending reports its close code to both sides once, on a later turn of the loop.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedSocket } from '../harness/apiGateway/websocket/simulated.js';

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
