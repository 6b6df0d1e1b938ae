/**
 * `expectMetric`: a CloudWatch metric the functions emitted as EMF (collected by harness/cloudwatch/metrics.ts)
 * reaches a value: e.g. `{ name: NotificationsSent, atLeast: 2 }`, or `{ name: FanoutDuration, statistic: p99,
 * atMost: 500 }`. Series matching the name (and namespace, and at least the given dimensions) are taken together.
 */
import { statisticsOf } from '../../cloudwatch/metrics.js';
import { toMs, type MetricExpectation } from '../format.js';
import { always, poll, StepFailure, type StepContext, type StepKind } from './context.js';

function describe(e: MetricExpectation): string {
  const bounds = [
    e.atLeast !== undefined ? `≥ ${e.atLeast}` : '',
    e.atMost !== undefined ? `≤ ${e.atMost}` : '',
    e.equals !== undefined ? `= ${e.equals}` : '',
  ].filter(Boolean);
  const where = [
    e.namespace,
    e.dimensions &&
      Object.entries(e.dimensions)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
  ]
    .filter(Boolean)
    .join(' ');
  return `${e.statistic ?? 'sum'} of ${e.name}${where ? ` (${where})` : ''} ${bounds.join(' and ')}`;
}

export async function expectMetric(e: MetricExpectation, ctx: StepContext): Promise<void> {
  const statistic = e.statistic ?? 'sum';
  const query = { name: e.name, ...(e.namespace ? { namespace: e.namespace } : {}), ...(e.dimensions ? { dimensions: e.dimensions } : {}) };
  const holds = (value: number | undefined): boolean =>
    value !== undefined &&
    (e.atLeast === undefined || value >= e.atLeast) &&
    (e.atMost === undefined || value <= e.atMost) &&
    (e.equals === undefined || value === e.equals);
  let last: number | undefined;
  const met = await poll(toMs(e.within, ctx.defaultWithinMs), () => {
    last = statisticsOf(ctx.insides().metrics(query))[statistic];
    return holds(last) ? true : undefined;
  });
  if (met) return;
  const series = ctx.insides().metrics({ name: e.name });
  const seen = series.length
    ? series
        .map(
          (s) =>
            `    ${s.namespace}/${s.name} {${Object.entries(s.dimensions)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ')}} ${statistic} ${statisticsOf([s])[statistic]}`,
        )
        .join('\n')
    : '    (no series of that name)';
  throw new StepFailure(`expected ${describe(e)}, got ${last ?? 'no data'}\n  series named ${e.name}:\n${seen}`);
}

export const expectMetricStep: StepKind<'expectMetric'> = {
  action: 'expectMetric',
  needsInsides: always,
  changesState: false,
  run: expectMetric,
};
