/**
 * One bench figure: what was measured, against what, and whether it meets its goal. A goal is on the value or on
 * the ratio value / baseline (both measured in the same run: these machines are noisy, absolute numbers from
 * another run mean little). A figure that could not be measured keeps `value: null` and `met: false`.
 */
export interface Goal {
  /** 'ratio': value / baseline.value; 'value': the value itself. */
  of: 'ratio' | 'value';
  max?: number;
  min?: number;
}

export interface Figure {
  id: string;
  title: string;
  value: number | null;
  unit: string;
  baseline?: { value: number; unit: string; what: string };
  ratio?: number;
  goal: Goal;
  /**
   * What the goal judges (the ratio for a ratio goal, else the value) divided by the goal's bound: how far from the
   * goal, for every figure, baseline or not. With a `max` goal ≤ 1 is met; with a `min` goal ≥ 1 is met.
   */
  ofGoal?: number;
  met: boolean;
  note?: string;
}

export function figure(input: Omit<Figure, 'met' | 'ratio' | 'ofGoal'>): Figure {
  const ratio = input.baseline && input.value !== null && input.baseline.value > 0 ? input.value / input.baseline.value : undefined;
  const judged = input.goal.of === 'ratio' ? ratio : (input.value ?? undefined);
  const met =
    judged !== undefined &&
    Number.isFinite(judged) &&
    (input.goal.max === undefined || judged <= input.goal.max) &&
    (input.goal.min === undefined || judged >= input.goal.min);
  const bound = input.goal.max ?? input.goal.min;
  const ofGoal = judged !== undefined && Number.isFinite(judged) && bound ? judged / bound : undefined;
  return { ...input, ...(ratio !== undefined ? { ratio } : {}), ...(ofGoal !== undefined ? { ofGoal } : {}), met };
}

/** A figure this run could not produce, said so rather than left out. */
export function notMeasured(input: Pick<Figure, 'id' | 'title' | 'unit' | 'goal'>, why: string): Figure {
  return { ...input, value: null, met: false, note: why };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const number = (n: number): string =>
  Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 2 });

function goalText(goal: Goal, unit: string): string {
  const suffix = goal.of === 'ratio' ? '×' : ` ${unit}`;
  if (goal.max !== undefined) return `≤ ${number(goal.max)}${suffix}`;
  return `≥ ${number(goal.min!)}${suffix}`;
}

/** The human table: one block per figure. */
export function table(figures: Figure[]): string {
  return figures
    .map((f) => {
      const value = f.value === null ? 'not measured' : `${number(f.value)} ${f.unit}`;
      const lines = [`${f.met ? 'met ' : 'MISS'}  ${f.id.padEnd(4)} ${f.title}`, `            value     ${value}`];
      if (f.baseline) lines.push(`            baseline  ${number(f.baseline.value)} ${f.baseline.unit} (${f.baseline.what})`);
      if (f.ratio !== undefined) lines.push(`            ratio     ${f.ratio.toFixed(2)}×`);
      lines.push(`            goal      ${goalText(f.goal, f.unit)}`);
      if (f.ofGoal !== undefined)
        lines.push(
          `            vs goal   ${f.ofGoal.toFixed(2)}× the goal's bound (${f.goal.max !== undefined ? 'met at ≤ 1' : 'met at ≥ 1'})`,
        );
      if (f.note) lines.push(`            note      ${f.note}`);
      return lines.join('\n');
    })
    .join('\n');
}
