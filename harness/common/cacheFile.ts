/**
 * Writes one file of a cache in node_modules/.cache (compiled validators, parsed YAML) so that no reader sees half
 * of it: written aside, then renamed, which is atomic — two runs starting at once may write the same file. Best
 * effort: false when it cannot be written (a read-only node_modules), and the caller then works without the cache.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeCacheFile(file: string, contents: string): boolean {
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, contents);
    renameSync(tmp, file);
    return true;
  } catch {
    return false;
  }
}
