import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

test('the demo repository builds on master: test then e2e, each step logged', async () => {
  const res = await h.api('POST', '/api/builds', { repo: 'demo', ref: 'master' });
  assert.equal(res.status, 201);
  const id = res.json.build.id as string;

  const b = await h.waitDone(id);

  assert.equal(b.status, 'success', JSON.stringify(b.stages));
  assert.deepEqual(
    b.stages.map((s) => [s.name, s.status]),
    [
      ['test', 'success'],
      ['e2e', 'success'],
    ],
  );
  const log = await h.api('GET', `/api/builds/${id}/logs/test/unit`);
  assert.match(log.json, /\+ python3 -m unittest discover -s tests -v/);
  assert.match(log.json, /OK/);
});

test('a spec with a type error fails the build at once with file:line:col path: message', async () => {
  const repo = await makeRepo(h.dataDir, 'broken', {
    'bosun.yml': 'version: 1\nimage: x\nstages:\n  test:\n    steps:\n      - name: a\n        run: [echo hi]\n        image: [not, a, string]\n',
  });
  h.server.core.config.repos.broken = { url: repo.url, defaultBranch: 'master', secrets: [] };

  const res = await h.api('POST', '/api/builds', { repo: 'broken', ref: 'master' });
  const b = await h.waitDone(res.json.build.id);

  assert.equal(b.status, 'failed');
  assert.equal(b.error?.code, 'spec_invalid');
  assert.match(b.error?.message ?? '', /^bosun\.yml:8:\d+ stages\.test\.steps\[0\]\.image: /);
});

test('a failing step fails its stage, skips the rest, and retry --failed re-runs only what failed', async () => {
  const repo = await makeRepo(h.dataDir, 'flaky', {
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  test:',
      '    steps:',
      '      - name: first',
      '        run: echo first-ran',
      '      - name: second',
      '        run:',
      "          - 'test -f marker || { touch marker; echo failing; exit 3; }'",
      '  e2e:',
      '    needs: [test]',
      '    steps:',
      '      - name: smoke',
      '        run: [echo smoke]',
      '',
    ].join('\n'),
  });
  h.server.core.config.repos.flaky = { url: repo.url, defaultBranch: 'master', secrets: [] };

  const res = await h.api('POST', '/api/builds', { repo: 'flaky', ref: 'master' });
  const id = res.json.build.id as string;
  const failed = await h.waitDone(id);

  assert.equal(failed.status, 'failed');
  assert.deepEqual(
    failed.stages.map((s) => [s.name, s.status]),
    [
      ['test', 'failed'],
      ['e2e', 'skipped'],
    ],
  );
  assert.deepEqual(
    failed.stages[0]!.steps.map((s) => [s.name, s.status, s.exitCode]),
    [
      ['first', 'success', 0],
      ['second', 'failed', 3],
    ],
  );

  const retried = await h.api('POST', `/api/builds/${id}/retry`, { fromFailed: true });
  assert.equal(retried.status, 200);
  const done = await h.waitFor(id, (b) => b.attempt === 2 && b.status === 'success');

  assert.equal(done.stages[0]!.steps[0]!.runs, 1, 'the step that passed is not run again');
  assert.equal(done.stages[0]!.steps[1]!.runs, 2);
  assert.equal(done.stages[1]!.status, 'success');
});

test('cancel stops a running step and the build ends cancelled', async () => {
  const repo = await makeRepo(h.dataDir, 'slow', {
    'bosun.yml': 'version: 1\nimage: any\nstages:\n  test:\n    steps:\n      - name: sleepy\n        run: [echo started, sleep 300]\n',
  });
  h.server.core.config.repos.slow = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const res = await h.api('POST', '/api/builds', { repo: 'slow', ref: 'master' });
  const id = res.json.build.id as string;
  await h.waitFor(id, (b) => b.stages[0]?.steps[0]?.status === 'running');

  const cancelled = await h.api('POST', `/api/builds/${id}/cancel`);
  assert.equal(cancelled.status, 200);
  const b = await h.waitFor(id, (x) => x.stages[0]?.status === 'cancelled', 30_000);

  assert.equal(b.status, 'cancelled');
  assert.equal(b.stages[0]!.steps[0]!.status, 'cancelled');
});

test('unknown repositories and refs are refused with a clear reason', async () => {
  const unknownRepo = await h.api('POST', '/api/builds', { repo: 'nope', ref: 'master' });
  assert.equal(unknownRepo.status, 400);
  assert.match(unknownRepo.json.message, /repository "nope" is not configured/);

  const unknownRef = await h.api('POST', '/api/builds', { repo: 'demo', ref: 'no-such-branch' });
  assert.equal(unknownRef.status, 400);
  assert.equal(unknownRef.json.message, 'unknown ref "no-such-branch"');

  const evil = await h.api('POST', '/api/builds', { repo: 'demo', ref: '--upload-pack=touch pwned' });
  assert.equal(evil.status, 400);
});

test('a successful build leaves no workspace behind; a failed one keeps it for retry until the sweep', async () => {
  const { existsSync } = await import('node:fs');
  const { workspacePath } = await import('../../src/pipeline/workspace.js');
  const { sweepWorkspaces } = await import('../../src/app/start-worker-pool.js');
  const repo = await makeRepo(h.dataDir, 'keeps', {
    'bosun.yml': 'version: 1\nimage: any\nstages:\n  test:\n    steps:\n      - name: fails\n        run: exit 1\n',
  });
  h.server.core.config.repos.keeps = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const ok = await h.api('POST', '/api/builds', { repo: 'demo', ref: 'master' });
  const bad = await h.api('POST', '/api/builds', { repo: 'keeps', ref: 'master' });
  await h.waitDone(ok.json.build.id);
  await h.waitDone(bad.json.build.id);
  const config = h.server.core.config;

  await h.waitFor(ok.json.build.id, () => !existsSync(workspacePath(config, ok.json.build.id)), 60_000);
  assert.ok(existsSync(workspacePath(config, bad.json.build.id)), 'kept for retry --failed');

  const executor = h.server.workers!.executor;
  assert.deepEqual(await sweepWorkspaces(h.server.core, executor, Date.now()), [], 'inside the retention time');
  const removed = await sweepWorkspaces(h.server.core, executor, Date.now() + 25 * 3600_000);
  assert.ok(removed.includes(bad.json.build.id));
  assert.ok(!existsSync(workspacePath(config, bad.json.build.id)));
});
