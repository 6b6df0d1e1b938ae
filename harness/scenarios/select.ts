/** Which loaded scenarios a run keeps: `--tag` (the files' `tags:`) and `--grep` (the scenario's name). */
import type { Scenario } from './format.js';

export interface Selection {
  /** Keep a scenario carrying any of these tags. */
  tags?: string[];
  /** Keep a scenario whose name matches. */
  grep?: RegExp;
}

/** `--tag a --tag b,c` → ['a', 'b', 'c']: repeated or comma-separated, blanks refused. */
export function parseTags(values: string[] | undefined): string[] | undefined {
  if (!values?.length) return undefined;
  const tags = values.flatMap((v) => v.split(',')).map((t) => t.trim());
  if (tags.some((t) => !t)) throw new Error(`--tag needs a tag name, got "${values.join(' ')}"`);
  return tags;
}

/** `--grep <regex>`, case-insensitive (names are prose); a malformed pattern is an error that quotes it. */
export function parseGrep(value: string | undefined): RegExp | undefined {
  if (value === undefined) return undefined;
  try {
    return new RegExp(value, 'i');
  } catch (error) {
    throw new Error(`--grep "${value}" is not a regular expression: ${(error as Error).message}`);
  }
}

export function selects(selection: Selection): (scenario: Scenario) => boolean {
  return (scenario) =>
    (!selection.tags || selection.tags.some((t) => scenario.tags?.includes(t))) && (!selection.grep || selection.grep.test(scenario.name));
}

/** What was asked, for the message when nothing is left. */
export const describeSelection = (selection: Selection): string =>
  [selection.tags && `--tag ${selection.tags.join(',')}`, selection.grep && `--grep ${selection.grep.source}`]
    .filter(Boolean)
    .join(' and ');
