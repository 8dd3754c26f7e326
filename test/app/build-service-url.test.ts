import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { makeBuildService } from '../../src/app/build-service.js';
import type { PipelineDeps } from '../../src/pipeline/pipeline-deps.js';

// The server learns its address (the default public URL) only after it listens, after the
// build service exists: links made later must use it.
it('the build service links to the public URL known when the link is made', () => {
  const config = { http: {} as { publicUrl?: string } };
  const builds = makeBuildService({ config } as unknown as PipelineDeps, {} as Redis);
  assert.equal(builds.buildUrl('1'), undefined);
  config.http.publicUrl = 'http://127.0.0.1:4567/';
  assert.equal(builds.buildUrl('1'), 'http://127.0.0.1:4567/builds/1');
});
