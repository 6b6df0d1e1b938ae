/**
 * Arrival phases as Artillery defines them: `arrivalRate` new connections a second for `duration`, rising (or
 * falling) linearly to `rampTo` when given; `arrivalCount` spreads that many evenly over the duration; `pause`
 * adds none. Produces each connection's planned start, in ms from the start of the load.
 */
import type { Phase } from './format.js';

/**
 * Arrival k of a phase happens when the cumulative arrivals reach k: for a rate going linearly from r0 to r1 over
 * D seconds, N(t) = r0·t + (r1 − r0)·t²/(2D), inverted per arrival (the quadratic's positive root).
 */
function phaseArrivals(phase: Phase): number[] {
  const seconds = phase.durationMs / 1000;
  if (phase.pause || seconds <= 0) return [];
  if (phase.arrivalCount !== undefined) {
    const count = phase.arrivalCount;
    return Array.from({ length: count }, (_, k) => (k * phase.durationMs) / count);
  }
  const r0 = phase.arrivalRate ?? 0;
  const r1 = phase.rampTo ?? r0;
  const total = Math.round(((r0 + r1) / 2) * seconds);
  const a = (r1 - r0) / (2 * seconds);
  const times: number[] = [];
  for (let k = 0; k < total; k++) {
    // Solve a·t² + r0·t − k = 0 for t ≥ 0 (k-th arrival; the first at t = 0).
    const t = a === 0 ? k / r0 : (-r0 + Math.sqrt(r0 * r0 + 4 * a * k)) / (2 * a);
    times.push(Math.min(t, seconds) * 1000);
  }
  return times;
}

/** Every planned arrival (ms from the load's start), phases back to back, in order. */
export function arrivalSchedule(phases: Phase[]): number[] {
  const schedule: number[] = [];
  let offset = 0;
  for (const phase of phases) {
    for (const t of phaseArrivals(phase)) schedule.push(offset + t);
    offset += phase.durationMs;
  }
  return schedule;
}
