/**
 * Load runs' pictures as inline SVG (no chart library, nothing to load): a histogram of message latencies with
 * p50/p95/p99 marked, and deliveries per second over the run, from the event log.
 */
import { build as buildHistogram } from 'hdr-histogram-js';
import type { ScenarioResult } from '../runner.js';

const W = 640;
const H = 180;
const PAD = 30;

/** Bars of `counts` scaled into the chart, with a label under the first, middle and last bar (load runs use it too). */
export function barChart(
  counts: number[],
  labelOf: (i: number) => string,
  title: string,
  marks: Array<{ at: number; label: string }> = [],
): string {
  const max = Math.max(1, ...counts);
  const width = (W - 2 * PAD) / counts.length;
  const rects = counts.map((c, i) => {
    const h = ((H - 2 * PAD) * c) / max;
    return `<rect x="${(PAD + i * width).toFixed(1)}" y="${(H - PAD - h).toFixed(1)}" width="${Math.max(1, width - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="#0969da"><title>${labelOf(i)}: ${c}</title></rect>`;
  });
  const ticks = [0, Math.floor(counts.length / 2), counts.length - 1].map(
    (i) => `<text x="${(PAD + i * width).toFixed(1)}" y="${H - 10}" font-size="11">${labelOf(i)}</text>`,
  );
  const lines = marks.map((m) => {
    const x = (PAD + m.at * (W - 2 * PAD)).toFixed(1);
    // Percentiles are often a few ms apart: their values are in the title, the lines only carry a tooltip.
    return `<line x1="${x}" x2="${x}" y1="${PAD - 6}" y2="${H - PAD}" stroke="#cf222e" stroke-dasharray="4 3"><title>${m.label}</title></line>`;
  });
  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}"><text x="${PAD}" y="14" font-size="12" font-weight="bold">${title}${marks.length ? ` <tspan fill="#cf222e" font-weight="normal">${marks.map((m) => m.label).join(', ')}</tspan>` : ''}</text><text x="${W - 4}" y="${PAD - 8}" font-size="11" text-anchor="end">tallest bar ${max}</text>${rects.join('')}${ticks.join('')}${lines.join('')}</svg>`;
}

/** The latency histogram (30 bins from 0 to the maximum), or '' when fewer than 20 messages were measured. */
export function latencyHistogram(result: ScenarioResult): string {
  const values = result.messageLatenciesMs;
  if (values.length < 20) return '';
  const top = Math.max(1, ...values);
  const binCount = 30;
  const binWidth = top / binCount;
  const counts = new Array<number>(binCount).fill(0);
  for (const v of values) counts[Math.min(binCount - 1, Math.floor(v / binWidth))]++;
  const histogram = buildHistogram();
  for (const v of values) histogram.recordValue(Math.max(0, Math.round(v)));
  const marks = [50, 95, 99].map((q) => ({
    at: histogram.getValueAtPercentile(q) / top,
    label: `p${q} ${histogram.getValueAtPercentile(q)} ms`,
  }));
  return barChart(counts, (i) => `${Math.round(i * binWidth)} ms`, `message latency, n=${values.length}`, marks);
}

/** Frames delivered in each second of the run, or '' when fewer than 20 were delivered. */
export function deliveriesPerSecond(result: ScenarioResult): string {
  const times = result.events.filter((e) => e.kind === 'delivered').map((e) => e.time);
  if (times.length < 20) return '';
  const start = Math.min(...times);
  const seconds = Math.floor((Math.max(...times) - start) / 1000) + 1;
  const counts = new Array<number>(seconds).fill(0);
  for (const t of times) counts[Math.floor((t - start) / 1000)]++;
  return barChart(counts, (i) => `${i} s`, `deliveries per second, ${times.length} frames`);
}
