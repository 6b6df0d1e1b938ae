/**
 * The precompiled bundles `npm run emulate` and the Lambda containers load (harness/common/precompile.mjs): the same
 * code as the sources, rebuilt when a source changes, each file keeping its own import.meta.url, and no bundle
 * where one could resolve packages differently from the sources.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
// @ts-expect-error: plain JavaScript module without type declarations (it runs before TypeScript support).
import { precompiled } from '../harness/common/precompile.mjs';

const compile = precompiled as (entry: string) => Promise<string | undefined>;
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function sources(): { entry: string; helper: string } {
  dir = mkdtempSync(join(repoRoot, 'test', '.precompile-'));
  const entry = join(dir, 'entry.ts');
  const helper = join(dir, 'lib', 'helper.ts');
  mkdirSync(join(dir, 'lib'));
  writeFileSync(helper, 'export const where: string = import.meta.url;\nexport const version: number = 1;\n');
  writeFileSync(
    entry,
    "import { where, version } from './lib/helper.ts';\nimport { parse } from 'yaml';\nexport const answer = { where, version, parsed: parse('a: 1') as unknown };\n",
  );
  return { entry, helper };
}

const load = async (bundle: string, tag: string) =>
  ((await import(`${pathToFileURL(bundle).href}?${tag}`)) as { answer: Record<string, unknown> }).answer;

describe('precompiled bundles', () => {
  it("bundle the local sources, keep packages as imports and each file's own import.meta.url", async () => {
    const { entry, helper } = sources();
    const bundle = await compile(entry);
    expect(bundle).toBeDefined();
    expect(bundle!.startsWith(join(repoRoot, 'node_modules', '.cache', 'emulator-precompiled'))).toBe(true);
    expect(await load(bundle!, 'first')).toEqual({ where: pathToFileURL(helper).href, version: 1, parsed: { a: 1 } });
  });

  it('require the packages node loads as CommonJS (no export scan at import) and the built-ins, import the others, with the same values', async () => {
    sources();
    const entry = join(dir, 'packages.ts');
    // yaml: CommonJS for import and require alike; jose: an ES module package.
    writeFileSync(
      entry,
      "import YAML, { parse } from 'yaml';\nimport * as yamlNamespace from 'yaml';\nimport { base64url } from 'jose';\nimport { STATUS_CODES } from 'node:http';\n" +
        "export const answer = { parsed: parse('a: 1'), viaDefault: YAML.parse('b: 2'), same: YAML.parse === yamlNamespace.parse, " +
        "encoded: base64url.encode('ok'), notFound: STATUS_CODES[404] };\n",
    );
    const bundle = (await compile(entry))!;
    const text = readFileSync(bundle, 'utf8');
    expect(text).toContain('__requirePackage("yaml")');
    expect(text).not.toMatch(/from "yaml"/);
    expect(text).toMatch(/from "jose"/);
    // Built-ins too: importing node:http as an ES module would load undici for its lazy WebSocket export.
    expect(text).toContain('__requirePackage("node:http")');
    expect(await load(bundle, 'packages')).toEqual({
      parsed: { a: 1 },
      viaDefault: { b: 2 },
      same: true,
      encoded: 'b2s',
      notFound: 'Not Found',
    });
  });

  it('are reused while the sources are unchanged and rebuilt when one changes', async () => {
    const { entry, helper } = sources();
    const bundle = (await compile(entry))!;
    const built = statSync(bundle).mtimeMs;
    expect(await compile(entry)).toBe(bundle);
    expect(statSync(bundle).mtimeMs).toBe(built);
    writeFileSync(helper, 'export const where: string = import.meta.url;\nexport const version: number = 2;\n');
    expect(await compile(entry)).toBe(bundle);
    expect((await load(bundle, 'changed')).version).toBe(2);
  });

  it('are not made for a non-TypeScript entry, a source that does not compile, or sources resolving packages from another folder', async () => {
    const { entry } = sources();
    expect(await compile(join(dir, 'plain.js'))).toBeUndefined();
    const broken = join(dir, 'broken.ts');
    writeFileSync(broken, 'export const = ;\n');
    expect(await compile(broken)).toBeUndefined();
    // A folder with its own node_modules: its files resolve packages there, the entry's from the repository's.
    mkdirSync(join(dir, 'lib', 'node_modules'));
    expect(await compile(entry)).toBeUndefined();
  });
});
