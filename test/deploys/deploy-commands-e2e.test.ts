import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, testToken, type Harness } from '../support/bosun-harness.js';
import { requireDocker } from '../support/require-docker.js';
import { publishImage, removePublishedImages, recordBuild, startLocalRegistry, type LocalRegistry } from '../support/published-image.js';
import { DeployStore } from '../../src/deploys/deploy-store.js';
import { resolveRef } from '../../src/git/git.js';
import type { Deploy } from '../../src/domain/deploy.js';
import type { DockerPublication } from '../../src/domain/publication.js';

// The commands end to end through the HTTP API (the grammar chat and the CLI share), on a
// whole Bosun: environments with `run:` targets (deploy steps with the environment's secret),
// approvals through the checkpoint machinery, locks, auto-deploy of a push build, rollback, envs.
const bobToken = 'bob-token-0123456789abcdef';
const secret = 's3cret-deploy-token-value';
let h: Harness;
let registry: LocalRegistry;
let v1: DockerPublication, v2: DockerPublication;
let outDir: string;
let available = true;

before(async () => {
  available = await requireDocker();
  if (!available) return;
  registry = await startLocalRegistry();
  v1 = await publishImage(registry, `bosun-test/demo-${process.pid}`, { tag: 'v1' });
  v2 = await publishImage(registry, `bosun-test/demo-${process.pid}`, { tag: 'v2' });
  outDir = mkdtempSync(join(tmpdir(), 'bosun-deployed-'));
  const run = (env: string) => ({
    run: {
      image: 'bosun/busybox:1',
      secrets: ['DEPLOY_TOKEN'],
      commands: [
        `test "$(cat "$BOSUN_SECRETS_DIR/DEPLOY_TOKEN")" = "${secret}"`,
        `test "$DEPLOY_TOKEN" = "${secret}"`,
        `echo "${env} $BOSUN_DEPLOY_REF" >> ${join(outDir, 'deployed.log')}`,
      ],
    },
  });
  h = await startHarness({
    executor: 'local',
    apiTokens: [
      { name: 'tester', token: testToken },
      { name: 'bob', token: bobToken },
    ],
    groups: { release: ['api:bob'] },
    secrets: { DEPLOY_TOKEN: secret },
    queue: { watchdogIntervalMs: 500 },
    environments: {
      staging: { repo: 'demo', autoDeploy: { branch: 'master' }, target: run('staging') },
      production: { repo: 'demo', approvers: 'release', requires: ['test'], target: run('production') },
    },
  });
});

after(async () => {
  if (!available) return;
  await h?.stop();
  await removePublishedImages([v1, v2]);
  await registry?.stop();
  rmSync(outDir, { recursive: true, force: true });
});

async function say(text: string, token = testToken): Promise<string> {
  const res = await fetch(`${h.url}/api/commands`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  const json = (await res.json()) as { text: string; code?: string[] };
  return [json.text, ...(json.code ?? [])].join('\n');
}

function deployed(): string[] {
  const f = join(outDir, 'deployed.log');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n') : [];
}

async function waitDeploy(store: DeployStore, id: string, states: string[]): Promise<Deploy> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const d = await store.get(id);
    if (d && states.includes(d.state)) return d;
    if (Date.now() > deadline) throw new Error(`deploy ${id}: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('deploy, approve (never by the requester alone), lock, auto-deploy, rollback and envs, from commands', { timeout: 300_000 }, async (t) => {
  if (!available) return t.skip('no Docker');
  const core = h.server.core;
  const store = new DeployStore(core.redis, core.prefix);
  const sha = await resolveRef(core.config.repos.demo!.url, 'master');
  const b1 = await recordBuild(core.store, { repo: 'demo', sha, publication: v1 });
  const unpublished = await recordBuild(core.store, { repo: 'demo', sha });

  // Bad input: refused with a reason, nothing deployed.
  assert.match(await say(`deploy demo@${b1.id} to nowhere`), /unknown environment "nowhere" \(known: production, staging\)/);
  assert.match(await say(`deploy demo@${unpublished.id} to staging`), /published no image: an unpublished commit cannot be deployed/);
  assert.match(await say(`deploy demo@${v1.image}:v1 to staging`), /never a tag/);
  assert.match(await say('deploy demo staging'), /^usage: deploy <owner\/repo>/);
  assert.deepEqual(deployed(), []);

  // Staging has no approvers: it deploys.
  const queued = await say(`deploy demo@${b1.id} to staging`);
  const stagingId = /Deploy #(\d+)/.exec(queued)?.[1];
  assert.ok(stagingId, queued);
  assert.equal((await waitDeploy(store, stagingId, ['succeeded', 'failed'])).state, 'succeeded');
  assert.deepEqual(deployed(), [`staging ${v1.ref}`]);

  // Production needs release's approval; the requester cannot give it.
  const asked = await say(`deploy demo@${b1.id} to production`);
  const prodId = /Deploy #(\d+)/.exec(asked)?.[1] ?? '';
  const approvalBuild = /`\/ci approve (\d+)`/.exec(asked)?.[1];
  assert.ok(approvalBuild, asked);
  await h.waitFor(approvalBuild, (b) => b.status === 'waiting');
  assert.match(await say(`approve ${approvalBuild}`), /tester started build #\d+ and cannot approve it \(no self-approval\)/);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await store.get(prodId))?.state, 'awaiting_approval');
  assert.deepEqual(deployed(), [`staging ${v1.ref}`], "nothing deployed on the requester's own approval");
  assert.match(await say(`approve ${approvalBuild}`, bobToken), /Passed the checkpoint/);
  const prod = await waitDeploy(store, prodId, ['succeeded', 'failed']);
  assert.equal(prod.state, 'succeeded', prod.reason);
  assert.deepEqual(
    prod.approvals.map((a) => a.actor.id),
    ['api:bob'],
  );
  assert.deepEqual(deployed(), [`staging ${v1.ref}`, `production ${v1.ref}`]);

  // A locked environment refuses, saying who and why. Where there are approvers, only the
  // locker or an approver unlocks; elsewhere anyone may.
  assert.match(await say('lock staging "demo for a customer"', bobToken), /staging is locked/);
  const b2 = await recordBuild(core.store, { repo: 'demo', sha, publication: v2 });
  assert.match(await say(`deploy demo@${b2.id} to staging`), /staging is locked by bob since .*: demo for a customer — nothing deployed/);
  assert.match(await say('unlock staging'), /staging is unlocked \(it was locked by bob: demo for a customer\)/);
  assert.match(await say('lock production incident 4711', bobToken), /production is locked/);
  assert.match(await say(`deploy demo@${b2.id} to production`), /production is locked by bob since .*: incident 4711/);
  assert.match(await say('unlock production'), /only they or a member of "release" may unlock it/);
  assert.match(await say('unlock production', bobToken), /production is unlocked/);

  // A push build on master that published an image deploys to staging by itself.
  const pushed = await recordBuild(core.store, { repo: 'demo', sha, publication: v2, announce: true });
  const auto = await (async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const d = (await store.history({ environment: 'staging' })).find((x) => x.buildId === pushed.id);
      if (d?.state === 'succeeded') return d;
      if (Date.now() > deadline) throw new Error(`no auto-deploy: ${JSON.stringify(d)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  assert.equal(auto.kind, 'auto');
  assert.equal(auto.ref, v2.ref);
  assert.match(
    await say('envs demo'),
    new RegExp(`staging: ${v2.digest.slice(7, 19)} ${sha.slice(0, 7)} build #${pushed.id}, .* ago by Bosun \\(auto-deploy\\)`),
  );

  // Rollback puts the previous good digest back.
  const rb = await say('rollback demo staging');
  const rbId = /Deploy #(\d+)/.exec(rb)?.[1] ?? '';
  assert.equal((await waitDeploy(store, rbId, ['succeeded', 'failed'])).ref, v1.ref);
  const envs = await say('envs demo');
  assert.match(envs, new RegExp(`staging: ${v1.digest.slice(7, 19)} .* by tester`));
  assert.match(envs, new RegExp(`production: ${v1.digest.slice(7, 19)} .* build #${b1.id}`));
  assert.deepEqual(deployed(), [`staging ${v1.ref}`, `production ${v1.ref}`, `staging ${v2.ref}`, `staging ${v1.ref}`]);

  const deadline = Date.now() + 60_000;
  let audit = (await core.audit.list(500)).filter((e) => e.action.startsWith('deploy.'));
  while (audit.filter((e) => e.action === 'deploy.succeeded').length < 4 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    audit = (await core.audit.list(500)).filter((e) => e.action.startsWith('deploy.'));
  }
  assert.ok(
    audit.some((e) => e.action === 'deploy.deploy' && e.outcome === 'denied'),
    'refusals audited',
  );
  assert.equal(audit.filter((e) => e.action === 'deploy.succeeded').length, 4);
});
