/**
 * What a step kind gets to work with: the scenario's clients by name, the target (and its insides where the
 * emulator runs in this process), the captured variables and the bookkeeping expectations share.
 */
import type { ScenarioClient } from '../client.js';
import type { Scenario, Step } from '../format.js';
import type { ScenarioTarget, TargetInsides } from '../target.js';

/** A step's expectation was not met; the message says what was awaited and what came instead. */
export class StepFailure extends Error {
  override name = 'StepFailure';
}

/** A window during which a client had to receive nothing matching; seqs place it among the emulator's events. */
export interface AbsenceWindow {
  step: number;
  client: string;
  match: unknown;
  duringMs: number;
  /** The last event seq before the window opened and when it closed (0 without the emulator's insides). */
  fromSeq: number;
  toSeq: number;
  status: 'passed' | 'failed';
}

export interface Progress {
  scenario: string;
  step: string;
  done: number;
  total: number;
}

export interface StepContext {
  scenario: Scenario;
  target: ScenarioTarget;
  /** How long a positive expectation without `within` waits. */
  defaultWithinMs: number;
  /** Values `${{ name }}` refers to: the scenario's vars and what steps captured. */
  captures: Record<string, unknown>;
  /** For each message an expectation matched: ms from the start of the step that caused it. */
  messageLatenciesMs: number[];
  /** When the last step that could cause a notification (graphql, send) started. */
  lastActionAt: number;
  /** Indexes of cache invalidations an expectation already matched (each is matched once). */
  consumedInvalidations: Set<number>;
  onProgress: ((progress: Progress) => void) | undefined;
  /** Aborted when the running step's `timeout` is up: steps that can stop early (a request) listen to it. */
  signal: AbortSignal | undefined;
  /** The index of the running step, for what the steps record (absence windows). */
  stepIndex: number;
  /** Every absence window watched (`expectNoMessage`/`noMessage`), for reports that draw them. */
  absenceWindows: AbsenceWindow[];
  clientsOf(name: string): ScenarioClient[];
  tokenOf(name: string | undefined): string | undefined;
  /** The emulator's insides; only called by steps whose kind declares `needsInsides`. */
  insides(): TargetInsides;
  connectionIdOf(client: ScenarioClient): string;
}

/** One kind of step: its action key, whether it needs the emulator's insides, and how it runs. */
export interface StepKind<A extends keyof Step = keyof Step> {
  action: A;
  /** Cannot run on a remote target (faults, clock, cache keys, connection records). */
  needsInsides: (step: Step) => boolean;
  /** Skipping it changes what later steps would see, so they are skipped too. */
  changesState: boolean;
  run(spec: NonNullable<Step[A]>, ctx: StepContext): Promise<void>;
}

export const never = (): boolean => false;
export const always = (): boolean => true;

/** Polls `probe` until it answers something or the time is up (then answers its last value). */
export async function poll<T>(withinMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T | undefined> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() >= deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
