import { diffLines } from 'diff';
import { expectedView, mismatches } from './matchers.js';

/**
 * A readable explanation of why `actual` does not match `pattern`: the mismatching paths, then a line diff of
 * what was expected (matchers shown as <$op …>) against what was received.
 */
export function renderMismatch(label: string, pattern: unknown, actual: unknown): string {
  const problems = mismatches(pattern, actual);
  const expected = JSON.stringify(expectedView(pattern, actual), null, 2) ?? 'undefined';
  const received = JSON.stringify(actual, null, 2) ?? 'undefined';
  const lines: string[] = [`  ${label}: ${problems.length} difference(s)`];
  for (const p of problems.slice(0, 10))
    lines.push(`    at ${p.path || '(root)'}: expected ${p.expected}, received ${JSON.stringify(p.actual) ?? 'undefined'}`);
  lines.push('  - expected  + received');
  for (const part of diffLines(expected, received)) {
    const prefix = part.added ? '+ ' : part.removed ? '- ' : '  ';
    for (const line of part.value.replace(/\n$/, '').split('\n')) lines.push(`  ${prefix}${line}`);
  }
  return lines.join('\n');
}
