import { glob, stat } from 'node:fs/promises';
import { resolve } from 'node:path';

/**
 * Files, folders or globs → scenario files. With no pattern: every scenario under scenarios/ except
 * scenarios/load/ and scenarios/known-failures/ (what AWS requires and the backend does not do yet), which run on
 * purpose only.
 */
export async function expandPaths(patterns: string[], root: string): Promise<string[]> {
  const files = new Set<string>();
  const wanted = patterns.length ? patterns : ['scenarios/**/*.{yml,yaml}'];
  for (const pattern of wanted) {
    const full = resolve(root, pattern);
    const isDir = await stat(full).then((s) => s.isDirectory()).catch(() => false);
    const expanded = isDir ? `${pattern.replace(/\/$/, '')}/**/*.{yml,yaml}` : pattern;
    const braces = /\{([^}]+)\}/.exec(expanded);
    const variants = braces ? braces[1].split(',').map((b) => expanded.replace(braces[0], b)) : [expanded];
    let matched = 0;
    for (const variant of variants) {
      for await (const file of glob(variant, { cwd: root })) {
        const path = resolve(root, file);
        // Load scenarios and known failures are run on purpose, not by default.
        if (!patterns.length && /\/scenarios\/(load|known-failures)\//.test(path)) continue;
        files.add(path);
        matched++;
      }
    }
    if (!matched && patterns.length) throw new Error(`No scenario file matches "${pattern}"`);
  }
  return [...files].sort();
}
