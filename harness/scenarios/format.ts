/**
 * The scenario format as TypeScript sees it once the loader has validated and expanded a file: every type here is
 * derived from the one definition in schema.ts, never written twice.
 */
import type { Static } from 'typebox';
import type * as S from './schema.js';
import { stepActions } from './schema.js';
import type { LoadSpec } from './load/format.js';

export type Pattern = unknown;
export type ClientSpec = Static<typeof S.ClientSpec>;
export type MessageExpectation = Static<typeof S.MessageExpectation>;
export type NoMessageExpectation = Static<typeof S.NoMessageExpectation>;
export type CacheExpectation = Static<typeof S.CacheExpectation>;
export type ConnectionExpectation = Static<typeof S.ConnectionExpectation>;
export type ClosedExpectation = Static<typeof S.ClosedExpectation>;
export type EventExpectation = Static<typeof S.EventExpectation>;
export type MetricExpectation = Static<typeof S.MetricExpectation>;
export type Expectation = Static<typeof S.Expectation>;
export type Fault = Static<typeof S.Fault>;

/** Every runnable action, in the definition's order. */
export const ACTIONS = Object.keys(stepActions) as Action[];
export type Action = keyof typeof stepActions;
export type ActionSpec<A extends Action> = Static<(typeof stepActions)[A]>;

/**
 * A runnable step: one action (the schema's union enforces exactly one) and the common keys. Typed as an object
 * with every action optional so the engine can look an action up by its key.
 */
export type Step = { [A in Action]?: ActionSpec<A> } & { name?: string; timeout?: number | string };

/** Where a step comes from: its line in the scenario file, and the fragment or repeat it was expanded from. */
export interface StepOrigin {
  line: number;
  /** e.g. `create-partner (scenarios/fragments/create-partner.yaml:8)` or `repeat 3 of 13`. */
  via?: string;
}

export interface Scenario {
  file: string;
  name: string;
  description?: string;
  tags?: string[];
  vars?: Record<string, unknown>;
  /** Network-time profile for the scenario (harness/latency.ts); the target's own when absent. */
  latency?: 'none' | 'aws';
  clients: Record<string, ClientSpec>;
  slo?: Static<typeof S.Slo>;
  /** A load run after the steps (harness/scenarios/load/). */
  load?: LoadSpec;
  /** Where `load:` starts in the file. */
  loadLine?: number;
  /** The steps to run: fragments and repeats already expanded. */
  steps: Step[];
  /** Where each step starts in the scenario file, for messages that point at it. */
  stepLines: number[];
  /** Where each step comes from when a fragment or a repeat made it. */
  stepOrigins: StepOrigin[];
  /** The fragment files the scenario uses (absolute paths). */
  fragments?: string[];
}

/** "250ms", "2s", "10m", "2h" or a number of milliseconds. */
export function toMs(value: number | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (!match) throw new Error(`Not a duration: "${value}" (use e.g. 500ms, 2s, 10m, 2h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

/** The step's single action key. */
export const actionOf = (step: Step): Action => ACTIONS.find((a) => a in step)!;
