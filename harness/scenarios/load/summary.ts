/**
 * A load run for people: the summary table printed at the end of the run, and the report section (the same table,
 * the latency histogram and deliveries per second, drawn by html/charts.ts).
 */
import { barChart } from '../html/charts.js';
import type { LoadReport } from './run.js';

const number = (v: number | undefined): string =>
  v === undefined ? '—' : Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(v < 1 ? 4 : 1);

/** Rows of the summary: what arrived, what was sent, what was delivered, how fast, what failed. */
export function summaryRows(report: LoadReport): Array<[string, string]> {
  const v = report.metrics.values;
  // Counters that never moved are absent from the metrics: they read 0 here.
  const c = (name: string): string => number(v[name] ?? 0);
  const trend = (name: string): string =>
    v[`${name}.count`] === undefined
      ? '—'
      : `p50 ${number(v[`${name}.p50`])} · p95 ${number(v[`${name}.p95`])} · p99 ${number(v[`${name}.p99`])} · max ${number(v[`${name}.max`])} ms`;
  const errors = Object.entries(v)
    .filter(([k]) => k.startsWith('errors.'))
    .map(([k, n]) => `${k.slice(7)} ${number(n)}`);
  const management = Object.entries(v)
    .filter(([k]) => /^management\.(post|get|delete)\.\d{3}$/.test(k))
    .map(([k, n]) => `${k.slice(11)} ${number(n)}`);
  return [
    ['mode, scale', `${report.mode}, ${report.scale === 1 ? 'full size' : `${report.scale * 100} %`}`],
    [
      'connections',
      `${c('connect.ok')} open of ${c('connect.attempted')} (failed ${c('connect.failed')}, subscribe failed ${c('subscribe.failed')})`,
    ],
    ['connect', trend('connect.latency')],
    ['subscribe → ack', trend('subscribe.latency')],
    ['mutations', `${c('mutations.sent')} sent, ${c('mutations.failed')} failed`],
    ['graphql', trend('graphql.latency')],
    [
      'notifications',
      `${c('delivered')} of ${c('expected')} delivered (ratio ${number(v['delivered.ratio'])}), ${c('duplicates')} duplicates, ${c('unexpected')} unexpected`,
    ],
    ['commit → receipt', trend('message.latency')],
    ['management API', `${c('management.calls')} calls${management.length ? ` (${management.join(', ')})` : ''}`],
    ['errors', errors.length ? errors.join(', ') : 'none'],
    [
      'in flight (peak/limit)',
      `handshakes ${report.inFlight.handshakes.peak}/${report.inFlight.handshakes.limit}, mutations ${report.inFlight.mutations.peak}/${report.inFlight.mutations.limit}`,
    ],
    ['time, memory', `${number(v['duration.s'])} s, peak RSS ${number(v['rss.peak.mb'])} MB`],
    ...report.thresholds.map((t): [string, string] => [
      `${t.unobservable ? '↷' : t.ok ? '✓' : '✗'} ${t.metric}`,
      `${t.source} (${t.unobservable ? 'not observable on this target' : `measured ${t.value === undefined ? 'nothing' : number(t.value)}`})`,
    ]),
  ];
}

/** The summary as a plain-text table for the console. */
export function summaryTable(report: LoadReport): string {
  const rows = summaryRows(report);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, value]) => `  ${k.padEnd(width)}  ${value}`).join('\n');
}

const html = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The report's load section: the summary table, the latency histogram with p50/p95/p99, deliveries per second. */
export function loadSection(report: LoadReport): string {
  const v = report.metrics.values;
  const rows = summaryRows(report).map(([k, value]) => `<tr><th>${html(k)}</th><td>${html(value)}</td></tr>`);
  const bins = report.metrics.latencyBins;
  const width = bins.length ? bins[0].to : 1;
  const top = bins.length ? bins[bins.length - 1].to : 1;
  const histogram = bins.length
    ? barChart(
        bins.map((b) => b.count),
        (i) => `${i * width} ms`,
        `commit → receipt latency, n=${number(v['message.latency.count'])}`,
        (['p50', 'p95', 'p99'] as const).map((p) => ({
          at: (v[`message.latency.${p}`] ?? 0) / top,
          label: `${p} ${number(v[`message.latency.${p}`])} ms`,
        })),
      )
    : '';
  const series = report.metrics.deliveriesPerSecond;
  const perSecond = series.length ? barChart(series, (i) => `${i} s`, `deliveries per second, ${number(v.delivered)} notifications`) : '';
  return `<table class="load">${rows.join('')}</table>\n${histogram}\n${perSecond}`;
}
