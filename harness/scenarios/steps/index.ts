/** Every step kind by its action key: where a scenario step's behaviour lives (one file per kind beside this one). */
import type { Action } from '../format.js';
import type { StepKind } from './context.js';
import { advanceClockStep, sleepStep } from './clock.js';
import { connectStep } from './connect.js';
import { disconnectStep } from './disconnect.js';
import { expectStep } from './expect.js';
import { expectCacheInvalidatedStep } from './expectCacheInvalidated.js';
import { expectClosedStep } from './expectClosed.js';
import { expectConnectionStep } from './expectConnection.js';
import { expectMessageStep } from './expectMessage.js';
import { expectMetricStep } from './expectMetric.js';
import { expectNoMessageStep } from './expectNoMessage.js';
import { faultStep } from './fault.js';
import { graphqlStep } from './graphql.js';
import { sendStep } from './send.js';
import { subscribeStep } from './subscribe.js';

// Each kind is typed for its own action; the table is looked up by a step's action, so the spec always fits.
export const stepKinds = {
  connect: connectStep,
  send: sendStep,
  subscribe: subscribeStep,
  graphql: graphqlStep,
  expectMessage: expectMessageStep,
  expectNoMessage: expectNoMessageStep,
  expectCacheInvalidated: expectCacheInvalidatedStep,
  expectConnection: expectConnectionStep,
  expectClosed: expectClosedStep,
  expectMetric: expectMetricStep,
  expect: expectStep,
  fault: faultStep,
  advanceClock: advanceClockStep,
  disconnect: disconnectStep,
  sleep: sleepStep,
} satisfies { [A in Action]: StepKind<A> };

export type { AbsenceWindow, StepContext, StepKind, Progress } from './context.js';
export { StepFailure } from './context.js';
