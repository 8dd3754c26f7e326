import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { buildSpecJsonSchema, SCHEMA_PATH } from '../../spec-schema/generate.js';

describe('published JSON Schema', () => {
  it('matches the zod schema (run `npm run schema` when this fails)', () => {
    const committed = readFileSync(SCHEMA_PATH, 'utf8');

    assert.equal(committed, buildSpecJsonSchema(), 'spec-schema/build-spec.schema.json is stale: run `npm run schema` and commit it');
  });

  it('is strict: unknown keys are not allowed at the top level, in stages or in steps', () => {
    const schema = JSON.parse(buildSpecJsonSchema()) as {
      additionalProperties: boolean;
      properties: { stages: { additionalProperties: { additionalProperties: boolean; properties: { steps: { items: { additionalProperties: boolean } } } } } };
    };
    const stage = schema.properties.stages.additionalProperties;

    assert.equal(schema.additionalProperties, false);
    assert.equal(stage.additionalProperties, false);
    assert.equal(stage.properties.steps.items.additionalProperties, false);
  });
});
