/**
 * `tsx bench/startup.ts [--runs N] [-- emulate flags…]`: figure 4a alone — `emulate` spawned as `npm run emulate`
 * runs it, to its first answered GraphQL request, alternating with the minimal server baseline; medians and ratio.
 */
import { parseArgs } from 'node:util';
import { emulateStartToFirstAnswer, minimalServerStartToFirstAnswer } from './emulate.bench.js';
import { median } from './figures.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
const emulate: number[] = [];
const minimal: number[] = [];
for (let i = 0; i < runs; i++) {
  emulate.push(await emulateStartToFirstAnswer(positionals));
  minimal.push(await minimalServerStartToFirstAnswer());
}
console.log(
  JSON.stringify({
    emulateMedianMs: Math.round(median(emulate)),
    minimalMedianMs: Math.round(median(minimal)),
    ratio: Number((median(emulate) / median(minimal)).toFixed(2)),
    emulateRuns: emulate.map(Math.round),
  }),
);
