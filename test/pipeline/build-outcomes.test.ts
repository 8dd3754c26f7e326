import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { FakeExecutor, type ScriptedRun } from '../fakes/fake-executor.js';
import type { Build } from '../../src/domain/build.js';

// How a step ends decides its stage and build, and what later stages do. The steps run on the
// fake executor (scripted outcomes, no processes), so this table runs anywhere in a second or two.
let h: Harness;
const executor = new FakeExecutor('local');
before(async () => {
  h = await startHarness({}, { executor: () => executor });
});
after(async () => {
  await h?.stop();
});

interface Case {
  name: string;
  run: ScriptedRun;
  timeout?: string;
  cancel?: boolean;
  build: Build['status'];
  step: { status: string; exitCode?: number; reason?: string };
  next: string;
  log?: RegExp;
}

const cases: Case[] = [
  {
    name: 'a step that exits 0 succeeds: the build succeeds and the next stage runs',
    run: { stdout: ['all good'] },
    build: 'success',
    step: { status: 'success', exitCode: 0 },
    next: 'success',
    log: /all good/,
  },
  {
    name: 'a step that exits non-zero fails: the build fails and the next stage is skipped',
    run: { stderr: ['boom'], exitCode: 3 },
    build: 'failed',
    step: { status: 'failed', exitCode: 3 },
    next: 'skipped',
    log: /boom/,
  },
  {
    name: 'a step past its timeout is stopped and fails with reason timeout',
    run: { stdout: ['working'], hang: true },
    timeout: '1s',
    build: 'failed',
    step: { status: 'failed', reason: 'timeout' },
    next: 'skipped',
  },
  {
    name: 'a cancelled build stops its running step: it, the build and the next stage are cancelled',
    run: { hang: true },
    cancel: true,
    build: 'cancelled',
    step: { status: 'cancelled', reason: 'cancelled' },
    next: 'cancelled',
  },
  {
    name: 'a step killed for memory fails with reason oom, and its log says so',
    run: { exitCode: 137, reason: 'oom' },
    build: 'failed',
    step: { status: 'failed', exitCode: 137, reason: 'oom' },
    next: 'skipped',
    log: /memory/i,
  },
  {
    name: 'a step whose node was lost fails for an infrastructure reason',
    run: { exitCode: -1, reason: 'node_lost' },
    build: 'failed_infra',
    step: { status: 'failed_infra', reason: 'node_lost' },
    next: 'skipped',
  },
];

let seq = 0;
for (const c of cases) {
  test(c.name, async () => {
    const name = `outcome-${++seq}`;
    executor.script(`check/${name}`, c.run);
    const repo = await makeRepo(h.dataDir, name, {
      'bosun.yml': [
        'version: 1',
        'image: any',
        'stages:',
        '  check:',
        '    steps:',
        `      - name: ${name}`,
        '        run: the fake executor decides',
        ...(c.timeout ? [`        timeout: ${c.timeout}`] : []),
        '  after:',
        '    needs: [check]',
        '    steps:',
        '      - name: next',
        '        run: echo next',
        '',
      ].join('\n'),
    });
    h.server.core.config.repos[name] = { url: repo.url, defaultBranch: 'master', secrets: [] };
    const res = await h.api('POST', '/api/builds', { repo: name, ref: 'master' });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    const id = res.json.build.id as string;
    if (c.cancel) {
      await h.waitFor(id, (b) => b.stages[0]?.steps[0]?.status === 'running', 60_000);
      assert.equal((await h.api('POST', `/api/builds/${id}/cancel`)).status, 200);
    }
    const b = await h.waitDone(id, 30_000);
    assert.equal(b.status, c.build);
    const step = b.stages[0]!.steps[0]!;
    assert.deepEqual(
      { status: step.status, ...(c.step.exitCode !== undefined ? { exitCode: step.exitCode } : {}), ...(c.step.reason ? { reason: step.reason } : {}) },
      c.step,
    );
    assert.equal(b.stages[1]!.status, c.next);
    if (c.log) assert.match((await h.server.core.logs.read(id, 'check', name)).map((l) => l.text).join('\n'), c.log);
    assert.ok(
      executor.calls.some((call) => call.startsWith('destroy fake:') && call.includes(`check/${name}`)),
      'the step was destroyed',
    );
  });
}
