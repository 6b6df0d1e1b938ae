/**
 * Whether a bundle still matches the source files it was built from. esbuild's source map lists every source with
 * its content at build time (`sourcesContent`); the service's own sources (not node_modules', whose versions
 * package-lock.json's hash covers) are compared with the working tree, byte for byte — no clock involved, so a
 * checkout that changes mtimes but not contents is not stale, and an edit is caught even within the same second.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';

interface SourceMap {
  sources: string[];
  sourcesContent?: Array<string | null>;
}

/**
 * Sources are written relative to where esbuild put the bundle (a work folder under the service root, at a depth
 * serverless-esbuild chooses): the handler's own source, e.g. `../../../../src/handlers/graphql.ts`, tells which
 * prefix stands for the service root.
 */
function rootPrefix(sources: string[], handlerBase: string): string | undefined {
  const own = sources.find((s) => /\.[cm]?[jt]sx?$/.test(s) && s.replace(/\.[cm]?[jt]sx?$/, '').endsWith(`/${handlerBase}`));
  return own?.slice(0, own.length - own.replace(/^(\.\.\/)+/, '').length);
}

/**
 * The service's source files that changed (or disappeared) since the bundle was built, relative to `root`.
 * Undefined when the bundle has no usable source map (nothing to compare with).
 */
export function changedSources(root: string, bundleFile: string, handlerBase: string): string[] | undefined {
  const mapFile = `${bundleFile}.map`;
  if (!existsSync(mapFile)) return undefined;
  const map = JSON.parse(readFileSync(mapFile, 'utf8')) as SourceMap;
  const prefix = map.sourcesContent ? rootPrefix(map.sources, handlerBase) : undefined;
  if (prefix === undefined) return undefined;
  const changed: string[] = [];
  map.sources.forEach((source, i) => {
    if (!source.startsWith(prefix)) return;
    const path = resolve(root, source.slice(prefix.length));
    const name = relative(root, path);
    if (name.split(sep).includes('node_modules') || name.startsWith('..')) return;
    const then = map.sourcesContent?.[i];
    if (typeof then !== 'string') return;
    if (!existsSync(path) || readFileSync(path, 'utf8') !== then) changed.push(name);
  });
  return changed;
}
