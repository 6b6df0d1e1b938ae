/**
 * One self-contained HTML file: a summary table, then per scenario its steps, its failure (step, diff, frames,
 * events), for load runs a latency histogram and deliveries per second (charts.ts), and its sequence diagram
 * (timeline.ts). Mermaid is inlined from the installed package, so the file opens
 * offline, from a CI artifact or a mail, with no CDN.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import type { ScenarioResult } from '../runner.js';
import { timelineDiagram } from '../timeline.js';
import { deliveriesPerSecond, latencyHistogram } from './charts.js';
import { loadSection } from '../load/summary.js';

const require = createRequire(import.meta.url);
let mermaidSource: string | undefined;
/** mermaid.min.js defines a global `mermaid`; read once, only when an HTML report is asked for. */
const mermaidScript = (): string =>
  (mermaidSource ??= readFileSync(require.resolve('mermaid/dist/mermaid.min.js'), 'utf8').replace(/<\/script/gi, '<\\/script'));

const html = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const rel = (file: string): string => relative(process.cwd(), file) || file;
const mark = { passed: '✓', failed: '✗', skipped: '↷' } as const;

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #1f2328; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; }
.passed { color: #1a7f37; } .failed { color: #cf222e; } .skipped { color: #9a6700; }
section { border-top: 2px solid #d0d7de; margin-top: 2rem; padding-top: .5rem; }
pre.failure { background: #fff5f5; border: 1px solid #ffc1c1; padding: .75rem; overflow-x: auto; white-space: pre-wrap; }
.diagram { overflow-x: auto; } ol.steps { padding-left: 1.5rem; } code { font-size: 90%; }`;

export function htmlReport(results: ScenarioResult[], options: { title?: string } = {}): string {
  const count = (status: ScenarioResult['status']): number => results.filter((r) => r.status === status).length;
  const title = options.title ?? 'Scenario report';
  const rows = results.map(
    (r, i) =>
      `<tr><td class="${r.status}">${mark[r.status]}</td><td><a href="#s${i}">${html(r.name)}</a></td><td><code>${html(rel(r.file))}</code></td><td>${(r.durationMs / 1000).toFixed(2)} s</td></tr>`,
  );
  const sections = results.map((r, i) => {
    const steps = r.steps.map(
      (s) =>
        `<li class="${s.status}">${mark[s.status]} ${html(s.label)} <small>line ${s.line}, ${s.durationMs} ms${s.reason ? ` — ${html(s.reason)}` : ''}</small></li>`,
    );
    return [
      `<section id="s${i}" data-status="${r.status}">`,
      `<h2 class="${r.status}">${mark[r.status]} ${html(r.name)}</h2>`,
      `<p><code>${html(rel(r.file))}</code> on ${html(r.target)}, ${(r.durationMs / 1000).toFixed(2)} s</p>`,
      `<ol class="steps">${steps.join('')}</ol>`,
      r.failure ? `<pre class="failure">${html(r.failure)}</pre>` : '',
      // Load runs: the latency distribution and the delivery rate, before a diagram that shows only their start.
      r.load ? loadSection(r.load) : '',
      latencyHistogram(r),
      deliveriesPerSecond(r),
      // Mermaid reads the element's text: HTML-escaped here, decoded by the browser.
      r.events.length ? `<div class="diagram"><pre class="mermaid">${html(timelineDiagram(r))}</pre></div>` : '',
      '</section>',
    ].join('\n');
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title><style>${STYLE}</style></head>
<body data-diagrams="${results.filter((r) => r.events.length).length}">
<h1>${html(title)}</h1>
<p><span class="passed">${count('passed')} passed</span>, <span class="failed">${count('failed')} failed</span>, <span class="skipped">${count('skipped')} skipped</span></p>
<table><thead><tr><th></th><th>scenario</th><th>file</th><th>time</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>
${sections.join('\n')}
<script>${mermaidScript()}</script>
<script>
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', sequence: { mirrorActors: false, showSequenceNumbers: false } });
mermaid.run({ querySelector: 'pre.mermaid' }).then(
  () => { document.body.dataset.rendered = 'ok'; },
  (error) => { document.body.dataset.rendered = 'error'; console.error(error); },
);
</script>
</body></html>
`;
}
