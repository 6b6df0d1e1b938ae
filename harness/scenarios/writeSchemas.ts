/**
 * Writes the JSON Schemas editors read (mapped in .vscode/settings.json) from the one definition in schema.ts:
 * `npx tsx harness/scenarios/writeSchemas.ts`. test/scenario-format.test.ts fails when the files are stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fragmentSchema, scenarioSchema } from './schema.js';

export const schemaFiles = {
  'scenario.schema.json': scenarioSchema,
  'fragment.schema.json': fragmentSchema,
} as const;

/** The file's text: stable key order as defined, two-space indent, a final newline. */
export const schemaText = (schema: object): string => `${JSON.stringify(schema, null, 2)}\n`;

export const schemaPath = (name: keyof typeof schemaFiles): string => fileURLToPath(new URL(`./${name}`, import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [name, schema] of Object.entries(schemaFiles)) {
    writeFileSync(schemaPath(name as keyof typeof schemaFiles), schemaText(schema));
    console.log(`wrote harness/scenarios/${name}`);
  }
}
