import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { createBuild } from '../../src/pipeline/create-build.js';
import type { Trigger } from '../../src/domain/build.js';

// A deploy stage the build may not run fails the build when it starts, before anything runs,
// with the line of its `deploy:` (R8: the YAML names an environment; server config and the
// build's trust decide). The deploys themselves: deploy-stage.test.ts and seed-flow.test.ts.

function spec(environment: string): string {
  return [
    'version: 1',
    'image: any',
    'stages:',
    '  release:',
    '    steps: [{ name: dist, run: "true" }]',
    '    publish: [{ docker: { image: registry.example/acme/api } }]',
    '  ship:',
    '    on: { branches: [master, "feature/*"] }',
    '    needs: [release]',
    `    deploy: ${environment}`,
    '',
  ].join('\n');
}

let h: Harness;
let root = '';
let repo: Awaited<ReturnType<typeof makeRepo>>;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'bosun-deploy-plan-'));
  repo = await makeRepo(root, 'api', { 'bosun.yml': spec('staging') });
  await repo.commit({ 'bosun.yml': spec('production') }, 'deploy production', 'to-production');
  await repo.commit({ 'bosun.yml': spec('qa') }, 'deploy qa', 'to-qa');
  const run = { run: { image: 'bosun/busybox:1', commands: ['true'] } };
  h = await startHarness({
    repos: { 'acme/api': { url: repo.url, defaultBranch: 'master' } },
    groups: { release: ['api:bob'] },
    environments: {
      staging: { repo: 'acme/api', target: run },
      production: { repo: 'acme/api', approvers: 'release', target: run },
    },
  });
});

after(async () => {
  await h?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

const manual: Trigger = { event: 'manual', source: 'api', actor: { id: 'api:tester', name: 'tester' } };

describe('a deploy stage the build may not run fails the build at its start, with the line', () => {
  const cases: [string, string, Trigger, string][] = [
    [
      'an untrusted build (a fork pull request) that would run a deploy stage',
      'master',
      { event: 'pull_request', source: 'github', actor: { id: 'github:999', name: 'outsider' }, pullRequest: 7, untrusted: true, headBranch: 'feature/x' },
      'bosun.yml:10:13 stages.ship.deploy: this build is untrusted (a fork or outside author, or approved with ok-to-test) and never deploys: stage `ship` cannot run; limit it with `on: { branches: [master] }`',
    ],
    [
      'an environment that needs approval',
      'to-production',
      manual,
      'bosun.yml:10:13 stages.ship.deploy: environment `production` needs approval from `release`, so a build never deploys there by itself: ship it with `/ci promote` or `/ci deploy acme/api to production`',
    ],
    [
      'an environment server config does not have',
      'to-qa',
      manual,
      'bosun.yml:10:13 stages.ship.deploy: environment `qa` is not in server config (environments of acme/api: production, staging)',
    ],
  ];
  for (const [name, ref, trigger, message] of cases) {
    it(name, async () => {
      const { build } = await createBuild(h.server.core.deps, { repo: 'acme/api', ref, trigger });
      const b = await h.waitDone(build!.id, 60_000);
      assert.equal(b.status, 'failed');
      assert.equal(b.stages.length, 0, 'nothing ran');
      assert.equal(b.error?.code, 'spec_invalid');
      assert.equal(b.error?.message, message);
    });
  }
});
