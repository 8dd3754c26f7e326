import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { dispatch } from '../../commands/dispatch.js';
import { makeBuildService } from '../../src/app/build-service.js';
import type { CommandContext } from '../../commands/command.js';

let h: Harness;
before(async () => {
  h = await startHarness({ groups: { qa: ['slack:T1/UQA1', 'slack:T1/UQA2'] }, queue: { watchdogIntervalMs: 200 } });
});
after(async () => {
  await h?.stop();
});

const spec = (timeout: string) =>
  [
    'version: 1',
    'image: any',
    'stages:',
    '  test:',
    '    steps:',
    '      - name: unit',
    '        run: echo ok',
    '    checkpoint:',
    '      instructions: Try it on staging.',
    '      checklist: [Login works]',
    `      timeout: ${timeout}`,
    '      approvers: qa',
    '  deploy:',
    '    needs: [test]',
    '    steps:',
    '      - name: go',
    '        run: echo deployed',
    '',
  ].join('\n');

function ctx(id: string, name: string): CommandContext {
  return { actor: { id, name }, source: 'slack', builds: makeBuildService(h.server.core.deps, h.server.core.redis) };
}

test('a checkpoint pauses the build; the requester and outsiders are refused; a QA pass resumes it once', async () => {
  const repo = await makeRepo(h.dataDir, 'gated', { 'bosun.yml': spec('4h') });
  h.server.core.config.repos.gated = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const requester = ctx('slack:T1/UDEV', 'dev');
  const started = await dispatch('build gated#master', requester);
  const id = started.build!.id;

  const waiting = await h.waitFor(id, (b) => b.status === 'waiting');
  assert.equal(waiting.stages[0]!.status, 'waiting');
  assert.equal(waiting.stages[1]!.status, 'pending');

  const self = await dispatch(`pass ${id}`, requester);
  assert.match(self.text, /cannot approve it \(no self-approval\)/);
  const outsider = await dispatch(`pass ${id}`, ctx('slack:T1/UX', 'mallory'));
  assert.match(outsider.text, /not in the approver group "qa"/);
  const renamed = await dispatch(`pass ${id}`, ctx('slack:T1/UX', 'qa1'));
  assert.match(renamed.text, /not in the approver group/, 'a display name never grants a role');

  const [first, second] = await Promise.all([dispatch(`pass ${id}`, ctx('slack:T1/UQA1', 'qa1')), dispatch(`pass ${id}`, ctx('slack:T1/UQA1', 'qa1'))]);
  const texts = [first.text, second.text].sort();
  assert.equal(texts.filter((t) => t.startsWith('Passed')).length, 1, texts.join(' | '));

  const done = await h.waitDone(id);
  assert.equal(done.status, 'success');
  assert.equal(done.stages[0]!.checkpointState!.decision!.actor.id, 'slack:T1/UQA1');
  const audit = await h.server.core.audit.list(500);
  assert.ok(audit.some((a) => a.action === 'checkpoint.pass' && a.outcome === 'denied' && a.actorId === 'slack:T1/UDEV'));
});

test('a checkpoint that nobody decides times out and fails the build', async () => {
  const repo = await makeRepo(h.dataDir, 'gated-fast', { 'bosun.yml': spec('1s') });
  h.server.core.config.repos['gated-fast'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const started = await dispatch('build gated-fast#master', ctx('slack:T1/UDEV', 'dev'));
  assert.ok(started.build, started.text);
  const done = await h.waitDone(started.build.id, 30_000);

  assert.equal(done.status, 'failed', JSON.stringify(done));
  assert.equal(done.stages[0]!.checkpointState!.decision!.decision, 'timeout');
  assert.equal(done.stages[1]!.status, 'skipped');
});
