import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { glob } from 'tinyglobby';

/** What a folder expands to, and what no pattern at all means. */
const SCENARIO_FILES = '**/*.{yml,yaml}';
/** Fragments are parts of scenarios (`use: { fragment }`), never scenarios of their own. */
const FRAGMENTS = '**/fragments/**';

/**
 * Files, folders or globs → scenario files. With no pattern: every scenario under scenarios/ except
 * scenarios/load/ and scenarios/known-failures/ (what AWS requires and the backend does not do yet), which run on
 * purpose only. A folder's fragments/ are never scenarios. Globs (braces included) are tinyglobby's.
 */
export async function expandPaths(patterns: string[], root: string): Promise<string[]> {
  if (!patterns.length) {
    // Load scenarios and known failures are run on purpose, not by default.
    const all = await glob(`scenarios/${SCENARIO_FILES}`, {
      cwd: root,
      absolute: true,
      ignore: ['scenarios/load/**', 'scenarios/known-failures/**', FRAGMENTS],
    });
    return [...new Set(all.map((f) => resolve(f)))].sort();
  }
  const files = new Set<string>();
  for (const pattern of patterns) {
    const isDir = await stat(resolve(root, pattern))
      .then((s) => s.isDirectory())
      .catch(() => false);
    const expanded = isDir ? `${pattern.replace(/\/$/, '')}/${SCENARIO_FILES}` : pattern;
    const matched = await glob(expanded, { cwd: root, absolute: true, ...(isDir ? { ignore: [FRAGMENTS] } : {}) });
    if (!matched.length) throw new Error(`No scenario file matches "${pattern}"`);
    for (const file of matched) files.add(resolve(file));
  }
  return [...files].sort();
}
