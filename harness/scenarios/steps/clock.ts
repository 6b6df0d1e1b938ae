/** `advanceClock` moves the emulated clock (timeouts, TTL expiry); `sleep` waits in real time. */
import { toMs } from '../format.js';
import { always, never, type StepKind } from './context.js';

export const advanceClockStep: StepKind<'advanceClock'> = {
  action: 'advanceClock',
  needsInsides: always,
  changesState: true,
  run: (duration, ctx) => ctx.insides().advanceClock(toMs(duration, 0)),
};

export const sleepStep: StepKind<'sleep'> = {
  action: 'sleep',
  needsInsides: never,
  changesState: false,
  run: (duration) => new Promise((resolve) => setTimeout(resolve, toMs(duration, 0))),
};
