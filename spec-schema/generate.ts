/**
 * Writes `build-spec.schema.json` (JSON Schema for editors) from the zod schema.
 * Run with `npm run schema`; a test fails when the committed file is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { BuildSpec } from './build-spec.js';

export const SCHEMA_PATH = fileURLToPath(new URL('./build-spec.schema.json', import.meta.url));
export const SCHEMA_ID = 'urn:bosun:schema:build-spec:1';

export function buildSpecJsonSchema(): string {
  const generated = z.toJSONSchema(BuildSpec, { io: 'input' });
  const schema = {
    ...generated,
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: SCHEMA_ID,
    title: 'bosun.yml',
    description: 'Bosun build spec: stages of steps run in containers, with optional checkpoints, deploys and deliverables.',
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

function main(): void {
  writeFileSync(SCHEMA_PATH, buildSpecJsonSchema());
  console.log(`wrote ${SCHEMA_PATH}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
