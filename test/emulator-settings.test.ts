/**
 * serverless.yml's `custom.emulator` block: validated with errors that name the key (and, for a misspelt setting,
 * the known ones), from a validator compiled once and cached on disk; and the parsed-YAML cache start-up reads
 * serverless.yml from, which must give what parsing gives and never hide a syntax error.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { EmulatorSettingsError, emulatorSettings } from '../harness/config/emulatorSettings.js';
import { parseYamlCached } from '../harness/config/parsedYaml.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('custom.emulator settings', () => {
  it('fills in what is optional', () => {
    expect(emulatorSettings(undefined, 'serverless.yml')).toEqual({ logEvents: [], scenarios: {} });
    const settings = emulatorSettings({ tokens: { queryParameter: 'token' } }, 'serverless.yml');
    expect(settings.tokens).toEqual({ queryParameter: 'token' });
  });

  it('refuses a misspelt setting, naming the key and the known settings', () => {
    const refused = () => emulatorSettings({ tokens: { queryParam: 'token' } }, 'app/serverless.yml');
    expect(refused).toThrow(EmulatorSettingsError);
    expect(refused).toThrow(
      'app/serverless.yml: custom.emulator.tokens.queryParam: unknown setting (known: queryParameter, secretVariable, mintCommand)',
    );
  });

  it('names a missing field and a value outside its enum, every problem at once', () => {
    expect(() => emulatorSettings({ logEvents: [{ message: 'cache invalidated', event: 'cacheCleared' }] }, 'serverless.yml')).toThrow(
      'serverless.yml: custom.emulator.logEvents.0: missing keysField; custom.emulator.logEvents.0.event: must be one of cacheInvalidated',
    );
  });
});

describe('parseYamlCached', () => {
  it('gives what the yaml package parses, from the cache on the next call, and reparses when the text changes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parsed-yaml-'));
    const text = readFileSync(join(root, 'serverless.yml'), 'utf8');
    expect(parseYamlCached(text, dir)).toEqual(parse(text));
    expect(readdirSync(dir)).toHaveLength(1);
    // The cached copy is what later runs read: corrupt it and the next call parses again, with the same result.
    writeFileSync(join(dir, readdirSync(dir)[0]), '{ not json');
    expect(parseYamlCached(text, dir)).toEqual(parse(text));
    const edited = `${text}\n# an edit\ncustom2: { a: 1 }\n`;
    expect(parseYamlCached(edited, dir)).toMatchObject({ custom2: { a: 1 } });
    expect(readdirSync(dir)).toHaveLength(2);
  });

  it('a syntax error throws as the parser says and caches nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parsed-yaml-'));
    expect(() => parseYamlCached('service: [unclosed', dir)).toThrow(/flow sequence|Missing/i);
    expect(readdirSync(dir)).toHaveLength(0);
  });
});
