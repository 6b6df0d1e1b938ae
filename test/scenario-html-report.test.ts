/**
 * The HTML report (`--reporter html`) of real runs on the in-process emulator: a named-lane diagram per scenario
 * in the order things started (causes before effects), a note per step, failures with their explanation, and no
 * network needed to open it. Where a Chromium is installed the report is opened headless: every diagram must render
 * with no console error, and a screenshot is saved next to the report (reports/html-report-test/); elsewhere that
 * part is skipped with its reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadScenario } from '../harness/scenarios/loader.js';
import { runScenario, type ScenarioResult } from '../harness/scenarios/runner.js';
import { inProcessTargets } from '../harness/scenarios/target.js';
import { htmlReport } from '../harness/scenarios/html/report.js';
import { timelineDiagram } from '../harness/scenarios/timeline.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, 'reports', 'html-report-test');
const reportFile = join(outDir, 'scenarios.html');

const chromiumPath = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
].find((p): p is string => Boolean(p && existsSync(p)));

let lyon: ScenarioResult;
let failing: ScenarioResult;
let results: ScenarioResult[];
let report: string;
const targets = inProcessTargets({ projectRoot: root, size: 1 });

beforeAll(async () => {
  const run = async (scenario: ReturnType<typeof loadScenario>): Promise<ScenarioResult> => {
    const target = await targets.acquire();
    try {
      return await runScenario(scenario, target);
    } finally {
      await target.release();
    }
  };
  lyon = await run(loadScenario(join(root, 'scenarios/functional/targeting-lyon-no-paris.yaml')));
  const gone = await run(loadScenario(join(root, 'scenarios/faults/gone-410-cleanup.yaml')));
  failing = await run(
    loadScenario(
      'inline-failing.yaml',
      `name: "ping answers <pang> & more"
clients:
  m: { claims: { sub: m, role: user } }
steps:
  - connect: m
  - send: { client: m, json: { type: ping } }
  - expectMessage: { client: m, match: { type: pang }, within: 300ms }
`,
    ),
  );
  results = [lyon, gone, failing];
  report = htmlReport(results);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(reportFile, report);
}, 120_000);
afterAll(() => targets.close());

/** Index of the first diagram line matching, failing loudly when there is none. */
const at = (lines: string[], pattern: RegExp): number => {
  const index = lines.findIndex((l) => pattern.test(l));
  if (index < 0) throw new Error(`no line matches ${pattern} in:\n${lines.join('\n')}`);
  return index;
};

describe('the sequence diagram', () => {
  it('has a lane per named client and per AWS piece', () => {
    expect(lyon.status).toBe('passed');
    const diagram = timelineDiagram(lyon);
    expect(diagram).toMatch(/participant c\d as paris\n/);
    expect(diagram).toMatch(/participant c\d as lyon\n/);
    for (const lane of ['API Gateway', 'Lambda', 'DynamoDB', 'Management API']) expect(diagram).toContain(`as ${lane}`);
    expect(new Set(Object.values(lyon.connections))).toEqual(new Set(['paris', 'lyon']));
  });

  it('draws causes before their effects', () => {
    const lines = timelineDiagram(lyon).split('\n');
    const paris = /participant (c\d) as paris/.exec(lines.join('\n'))![1];
    const lyonLane = /participant (c\d) as lyon/.exec(lines.join('\n'))![1];
    // The request before the invocation it triggered, the invocation before the DynamoDB write it made…
    expect(at(lines, /^ {2}H->>API: POST \/graphql/)).toBeLessThan(at(lines, /API->>\+L: graphql POST \/graphql/));
    expect(at(lines, /API->>\+L: graphql POST \/graphql/)).toBeLessThan(at(lines, /L->>D: PutItem \S*partners/));
    // …the post before the frame it delivered, and the handshake before its answer.
    expect(at(lines, /L->>M: POST @connections\/.* → 200/)).toBeLessThan(at(lines, new RegExp(`M-->>${paris}: .*partner_updated`)));
    expect(at(lines, new RegExp(`^  ${paris}->>API: connect`))).toBeLessThan(at(lines, /API->>\+L: websocket \$connect/));
    expect(at(lines, /API->>\+L: websocket \$connect/)).toBeLessThan(at(lines, new RegExp(`API-->>${paris}: 101 open`)));
    // Lyon got its subscribe ack, and no partner_updated.
    expect(lines.some((l) => l.startsWith(`  M-->>${lyonLane}:`) && l.includes('partner_updated'))).toBe(false);
    expect(lines.some((l) => l.startsWith(`  M-->>${lyonLane}:`) && l.includes('subscribed'))).toBe(true);
  });

  it('marks each step where it began, the failed one with ✗', () => {
    const notes = (r: ScenarioResult): string[] =>
      timelineDiagram(r)
        .split('\n')
        .filter((l) => /Note over .*: (✗ )?step \d+/.test(l));
    expect(notes(lyon)).toHaveLength(lyon.steps.length);
    // The create mutation comes from a fragment: the note says which, at the line of the `use`.
    expect(notes(lyon)[4]).toMatch(
      /step 5 \(graphql, via create-partner step 1 \(scenarios\/fragments\/create-partner\.yaml:\d+\)\) \(line 12\)/,
    );
    expect(failing.status).toBe('failed');
    expect(notes(failing).map((n) => n.replace(/^.*: /, ''))).toEqual([
      'step 1 (connect) (line 5)',
      'step 2 (send) (line 6)',
      '✗ step 3 (expectMessage) (line 7)',
    ]);
  });

  it('draws the absence window on the lane that had to get nothing, with its outcome', () => {
    const lines = timelineDiagram(lyon).split('\n');
    const lyonLane = /participant (c\d) as lyon/.exec(lines.join('\n'))![1];
    expect(lyon.absenceWindows).toEqual([expect.objectContaining({ client: 'lyon', duringMs: 500, status: 'passed' })]);
    const open = at(lines, /^ {2}rect rgba\(255, 193, 7/);
    expect(lines[open + 1]).toBe(`  Note over ${lyonLane}: expects no {'type':'partner_updated'} for 500 ms`);
    const close = lines.indexOf(`  Note over ${lyonLane}: ✓ nothing matching came`);
    expect(close).toBeGreaterThan(open);
    expect(lines[close + 1]).toBe('  end');
    // It opens after the step that watches it began, and the step note comes first.
    expect(at(lines, /Note over .*: step 6 \(expect 'Paris gets it/)).toBeLessThan(open);
    // A cut inside the window still closes its block, so the diagram parses.
    const header = lines.findIndex((l) => !/^(sequenceDiagram| {2}participant )/.test(l));
    const cut = timelineDiagram(lyon, { maxLines: open - header + 2 }).split('\n');
    expect(cut.at(-3)).toBe(lines[open + 1]);
    expect(cut.filter((l) => l.startsWith('  rect ')).length).toBe(cut.filter((l) => l === '  end').length);
  });

  it('draws a window a forbidden frame broke in red', () => {
    const broken: ScenarioResult = {
      ...lyon,
      absenceWindows: lyon.absenceWindows!.map((w) => ({ ...w, status: 'failed' as const })),
    };
    const lines = timelineDiagram(broken).split('\n');
    expect(lines[at(lines, /^ {2}rect rgba\(207, 34, 46/) + 1]).toMatch(/expects no/);
    expect(lines).toContainEqual(expect.stringMatching(/Note over c\d: ✗ a forbidden message came/));
  });

  it('caps a long diagram with a note saying how much was left out', () => {
    const diagram = timelineDiagram(lyon, { maxLines: 5 }).split('\n');
    expect(diagram.at(-1)).toMatch(/Note over .*: … \d+ more lines not drawn/);
  });
});

describe('the HTML file', () => {
  it('is self-contained: Mermaid inlined, nothing fetched from the network', () => {
    expect(report).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/cdn/i);
    expect(report).toContain('mermaid.initialize(');
    expect(report.length).toBeGreaterThan(1_000_000); // the renderer itself is in the file
    expect(report.match(/<pre class="mermaid">/g)).toHaveLength(3);
  });

  it('shows failures with their explanation, escaped', () => {
    expect(report).toContain('ping answers &lt;pang&gt; &amp; more');
    expect(report).toMatch(
      /<pre class="failure">step 3 \(expectMessage\) at inline-failing\.yaml:7\n[\s\S]*expected &quot;pang&quot;, received &quot;pong&quot;/,
    );
    expect(report).toContain('<section id="s2" data-status="failed">');
  });

  it.skipIf(!chromiumPath)(
    `renders every diagram in headless Chromium without console errors${chromiumPath ? '' : ' — skipped: no Chromium installed (set CHROMIUM_PATH, or apt-get install chromium)'}`,
    async () => {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: chromiumPath!, args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
        const errors: string[] = [];
        page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
        page.on('pageerror', (e) => errors.push(String(e)));
        await page.goto(`file://${reportFile}`);
        // Expressions as strings: they run in the page, and this project's TypeScript has no DOM types.
        await page.waitForFunction('document.body.dataset.rendered !== undefined', null, { timeout: 60_000 });
        expect(await page.evaluate('document.body.dataset.rendered')).toBe('ok');
        expect(errors).toEqual([]);
        expect(await page.locator('pre.mermaid svg').count()).toBe(3);
        // The lanes are the scenario's names, drawn as text in the first diagram.
        const firstSvgText = await page.locator('pre.mermaid svg').first().textContent();
        expect(firstSvgText).toContain('paris');
        expect(firstSvgText).toContain('lyon');
        await page
          .locator('section')
          .first()
          .screenshot({ path: join(outDir, 'scenario-1.png') });
        await page.screenshot({ path: join(outDir, 'report.png'), fullPage: false });
      } finally {
        await browser.close();
      }
    },
    120_000,
  );
});
