/**
 * API Gateway limits single frames to 32 KB as well as whole messages to 128 KB. `ws` enforces only the message
 * limit (maxPayload) and has no option for frames, so its receiver's length check is wrapped. The receiver is
 * `ws`'s internal API: the frame-size conformance test fails if a `ws` upgrade changes it.
 */
import type { WebSocket } from 'ws';
import { websocketApiLimits } from '../../common/awsDefaults.js';
import { CloseCode } from './closeCodes.js';

interface Receiver {
  haveLength?: (cb: (error?: Error) => void) => void;
  _payloadLength: number;
  _opcode: number;
  createError: (...args: unknown[]) => Error;
}

export function limitFrameSize(ws: WebSocket): void {
  const receiver = (ws as unknown as { _receiver?: Receiver })._receiver;
  const original = receiver?.haveLength;
  if (!receiver || !original) return;
  receiver.haveLength = function haveLengthWithFrameLimit(this: Receiver, cb) {
    // Opcodes below 0x08 are data frames (control frames have their own 125-byte limit).
    if (this._opcode < 0x08 && this._payloadLength > websocketApiLimits.maxFrameBytes) {
      return cb(this.createError(RangeError, 'Frame size exceeded', false, CloseCode.messageTooBig, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'));
    }
    return original.call(this, cb);
  };
}
