import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { recordBuild, recordPublication } from '../support/published-image.js';
import { FakeGithub } from '../fakes/fake-github.js';
import { BuildStore } from '../../src/storage/build-store.js';
import { AuditLog } from '../../src/storage/audit-log.js';
import { DeployStore } from '../../src/deploys/deploy-store.js';
import { DeployManager } from '../../src/deploys/deploy-manager.js';
import type { DeployTarget, TargetResult } from '../../src/deploys/deploy-target.js';
import { Environments } from '../../src/deploys/environment-config.js';
import { githubDeployments } from '../../src/deploys/github-deployments.js';
import { deployPromotion } from '../../src/deploys/promotion-deploy.js';
import { GithubClient } from '../../src/github/github-client.js';
import type { Deploy } from '../../src/domain/deploy.js';
import type { DockerPublication } from '../../src/domain/publication.js';
import { silentLogger } from '../../src/logger.js';
import { EventBus } from '../../src/events/event-bus.js';

// The deploy rules against a real Redis, with a target that records what it was told to do
// (the Swarm target itself is tested on the swarm in swarm-deploy.test.ts).

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

/** A target that records every apply, how many ran at once, and what "runs" now. Applies wait for `release()`. */
class RecordingTarget implements DeployTarget {
  applies: string[] = [];
  active = 0;
  maxActive = 0;
  runs: string | null = null;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }
  release(): void {
    this.open();
  }
  async apply(d: Deploy, signal: AbortSignal): Promise<TargetResult> {
    this.applies.push(d.ref);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    this.runs = d.ref;
    await Promise.race([this.gate, new Promise((r) => signal.addEventListener('abort', r, { once: true }))]);
    this.active--;
    return { outcome: 'succeeded' };
  }
  async observe(d: Deploy): Promise<TargetResult> {
    return this.runs === d.ref ? { outcome: 'succeeded' } : { outcome: 'failed', reason: 'not running it' };
  }
  async current(): Promise<string | null> {
    return this.runs;
  }
}

let n = 0;
const image = '127.0.0.1:5000/acme/api';
function publication(hexChar: string): DockerPublication {
  const digest = `sha256:${hexChar.repeat(64)}`;
  return { kind: 'docker', stage: 'publish', image, tag: hexChar.repeat(40), digest, ref: `${image}@${digest}`, publishedAt: new Date().toISOString() };
}
const alice = { id: 'cli:alice', name: 'alice' };

async function world(opts: { leaseMs?: number; github?: FakeGithub } = {}) {
  const prefix = `dm${++n}`;
  const client = redis.client();
  const builds = new BuildStore(client, prefix);
  const store = new DeployStore(client, prefix);
  const audit = new AuditLog(client, prefix);
  const target = new RecordingTarget();
  const environments = Environments.parse({
    staging: { repo: 'acme/api', target: { swarmService: { name: 'api-staging' } } },
    production: { repo: 'acme/api', requires: ['e2e'], target: { swarmService: { name: 'api-prod' } } },
  });
  const make = (leaseMs = opts.leaseMs) =>
    new DeployManager({
      environments,
      approvalsRequired: () => 1,
      store,
      builds,
      audit,
      log: silentLogger(),
      target: () => target,
      ...(leaseMs ? { leaseMs } : {}),
      ...(opts.github
        ? {
            github: githubDeployments(new GithubClient({ baseUrl: opts.github.url, maxRetryAfterSec: 1, token: 't' }, silentLogger()), {
              isGithubRepo: () => true,
              production: (e) => e === 'production',
            }),
          }
        : {}),
    });
  const published = async (hexChar: string, stages?: string[]) => {
    const b = await recordBuild(builds, { repo: 'acme/api', sha: hexChar.repeat(40), ...(stages ? { stages } : {}) });
    return recordPublication(builds, b.id, publication(hexChar));
  };
  const waitState = async (id: string, states: string[], timeoutMs = 60_000): Promise<Deploy> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const d = await store.get(id);
      if (d && states.includes(d.state)) return d;
      if (Date.now() > deadline) throw new Error(`deploy ${id}: ${JSON.stringify(d)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { builds, store, audit, target, make, published, waitState, client, prefix };
}

describe('a deploy that must not happen is refused with its reason, and nothing is deployed', () => {
  const cases: {
    name: string;
    setup?: (w: Awaited<ReturnType<typeof world>>, m: DeployManager) => Promise<void>;
    env?: string;
    repo?: string;
    selector: (w: Awaited<ReturnType<typeof world>>) => Promise<string>;
    says: RegExp;
  }[] = [
    {
      name: 'an unknown environment',
      env: 'prod',
      selector: async (w) => (await w.published('a')).id,
      says: /unknown environment "prod" \(known: production, staging\)/,
    },
    {
      name: 'a repository the environment does not deploy',
      repo: 'acme/web',
      selector: async (w) => (await w.published('a')).id,
      says: /staging deploys acme\/api, not acme\/web/,
    },
    {
      name: 'a digest the repository never published',
      selector: async (w) => (await w.published('a'), `sha256:${'e'.repeat(64)}`),
      says: /not an image published by a build of acme\/api/,
    },
    {
      name: 'a build that published no image',
      selector: async (w) => (await recordBuild(w.builds, { repo: 'acme/api', sha: 'd'.repeat(40) })).id,
      says: /published no image: an unpublished commit cannot be deployed/,
    },
    { name: 'an image tag instead of a digest', selector: async (w) => (await w.published('a'), `${image}:v1`), says: /looks like an image tag.*never a tag/ },
    {
      name: 'a publication whose reference is a tag',
      selector: async (w) => {
        const b = await recordBuild(w.builds, { repo: 'acme/api', sha: 'f'.repeat(40) });
        await recordPublication(w.builds, b.id, { ...publication('f'), ref: `${image}:latest` });
        return b.id;
      },
      says: /is not an image by digest/,
    },
    {
      name: 'a locked environment',
      setup: async (_w, m) => void (await m.lock('staging', 'incident 4711', { id: 'cli:bob', name: 'bob' }, 'cli')),
      selector: async (w) => (await w.published('a')).id,
      says: /staging is locked by bob since .*: incident 4711 — nothing deployed/,
    },
    {
      name: 'a build without the stages the environment requires',
      env: 'production',
      selector: async (w) => (await w.published('a', ['test'])).id,
      says: /production requires stage e2e green, and build #\d+ has it missing/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const w = await world();
      const m = w.make();
      await c.setup?.(w, m);
      const selector = await c.selector(w);
      await assert.rejects(
        m.request({ repo: c.repo ?? 'acme/api', selector, environment: c.env ?? 'staging', kind: 'deploy', actor: alice, source: 'cli' }),
        (err: Error) => (assert.match(err.message, c.says), true),
      );
      assert.deepEqual(w.target.applies, [], 'nothing applied');
      assert.deepEqual(await w.store.history({ repo: 'acme/api' }), [], 'no deploy recorded');
      const denied = (await w.audit.list()).filter((e) => e.outcome === 'denied' && e.action === 'deploy.deploy');
      assert.equal(denied.length, 1, 'the refusal is audited');
      await m.close();
    });
  }
});

describe('one deploy per environment at a time', () => {
  it('a deploy queued while one runs waits; a newer queued one supersedes it; never two at once', async () => {
    const w = await world();
    const m = w.make();
    w.target.hold();
    const a = await m.request({ repo: 'acme/api', selector: (await w.published('a')).id, environment: 'staging', kind: 'deploy', actor: alice, source: 'cli' });
    await w.waitState(a.deploy.id, ['running']);
    const b = await m.request({ repo: 'acme/api', selector: (await w.published('b')).id, environment: 'staging', kind: 'deploy', actor: alice, source: 'cli' });
    const c = await m.request({ repo: 'acme/api', selector: (await w.published('c')).id, environment: 'staging', kind: 'deploy', actor: alice, source: 'cli' });
    const superseded = await w.waitState(b.deploy.id, ['superseded']);
    assert.match(superseded.reason ?? '', new RegExp(`newer deploy \\(#${c.deploy.id}\\)`));
    assert.equal((await w.store.get(c.deploy.id))?.state, 'queued');
    w.target.release();
    assert.equal((await w.waitState(a.deploy.id, ['succeeded'])).state, 'succeeded');
    assert.equal((await w.waitState(c.deploy.id, ['succeeded'])).state, 'succeeded');
    assert.deepEqual(w.target.applies, [publication('a').ref, publication('c').ref]);
    assert.equal(w.target.maxActive, 1);
    await m.close();
  });

  it('two Bosun processes deploying to one environment: the second waits for the first, never both', async () => {
    const w = await world();
    const [m1, m2] = [w.make(), w.make()];
    w.target.hold();
    const [pa, pb] = [await w.published('a'), await w.published('b')];
    const ra = await m1.request({ repo: 'acme/api', selector: pa.id, environment: 'staging', kind: 'deploy', actor: alice, source: 'cli' });
    await w.waitState(ra.deploy.id, ['running']);
    const rb = await m2.request({ repo: 'acme/api', selector: pb.id, environment: 'staging', kind: 'deploy', actor: alice, source: 'cli' });
    await new Promise((r) => setTimeout(r, 300));
    await m2.watchdogPass();
    assert.equal(w.target.active, 1, 'exactly one applies');
    assert.equal((await w.store.get(rb.deploy.id))?.state, 'queued');
    w.target.release();
    await w.waitState(ra.deploy.id, ['succeeded']);
    // m1's runner picks the queued deploy up after its own (or m2's watchdog does).
    await m2.watchdogPass();
    await w.waitState(rb.deploy.id, ['succeeded']);
    assert.equal(w.target.maxActive, 1);
    assert.deepEqual(w.target.applies, [publication('a').ref, publication('b').ref]);
    await Promise.all([m1.close(), m2.close()]);
  });

  it('the same digest asked twice at once is one deploy (idempotency key environment + digest)', async () => {
    const w = await world();
    const m = w.make();
    w.target.hold();
    const build = await w.published('a');
    const [r1, r2] = await Promise.all(
      [1, 2].map(() => m.request({ repo: 'acme/api', selector: build.id, environment: 'staging', kind: 'deploy', actor: alice, source: 'cli' })),
    );
    assert.equal(r1!.deploy.id, r2!.deploy.id);
    w.target.release();
    await w.waitState(r1!.deploy.id, ['succeeded']);
    const again = await m.request({ repo: 'acme/api', selector: build.id, environment: 'staging', kind: 'deploy', actor: alice, source: 'cli' });
    assert.match(again.text, /already runs/);
    assert.deepEqual(w.target.applies, [publication('a').ref]);
    await m.close();
  });
});

describe('a runner that dies mid-deploy (kill -9)', () => {
  it('keeps the environment locked only until the watchdog resolves it by observing the target, never applying twice', async () => {
    const w = await world({ leaseMs: 400 });
    const dying = w.make();
    w.target.hold();
    const r = await dying.request({
      repo: 'acme/api',
      selector: (await w.published('a')).id,
      environment: 'staging',
      kind: 'deploy',
      actor: alice,
      source: 'cli',
    });
    await w.waitState(r.deploy.id, ['running']);
    dying.abandonForTest(); // no more renewals, no finish, no release: what kill -9 leaves
    const survivor = w.make();
    assert.deepEqual(await survivor.watchdogPass(), [], 'the lease is still live: nothing to resolve yet');
    const next = await survivor.request({
      repo: 'acme/api',
      selector: (await w.published('b')).id,
      environment: 'staging',
      kind: 'deploy',
      actor: alice,
      source: 'cli',
    });
    await new Promise((res) => setTimeout(res, 200));
    assert.equal((await w.store.get(next.deploy.id))?.state, 'queued', 'the environment is still held by the dead runner');
    await new Promise((res) => setTimeout(res, 500));
    const actions = await survivor.watchdogPass();
    assert.ok(actions.includes(`resolved ${r.deploy.id} succeeded`), actions.join(', '));
    const resolved = await w.store.get(r.deploy.id);
    assert.equal(resolved?.state, 'succeeded');
    assert.match(resolved?.reason ?? '', /resolved by the watchdog/);
    w.target.release();
    await w.waitState(next.deploy.id, ['succeeded']);
    assert.deepEqual(w.target.applies, [publication('a').ref, publication('b').ref], "the dead runner's deploy was applied once");
    await survivor.close();
  });
});

describe('history, rollback and GitHub Deployments', () => {
  it('each deploy of a GitHub repository is a GitHub deployment with its statuses; rollback deploys the previous good digest', async () => {
    const gh = await new FakeGithub().start();
    gh.addRepo('acme/api', mkdtempSync(join(tmpdir(), 'bosun-gh-')));
    try {
      const w = await world({ github: gh });
      const m = w.make();
      const a = await m.request({
        repo: 'acme/api',
        selector: (await w.published('a')).id,
        environment: 'staging',
        kind: 'deploy',
        actor: alice,
        source: 'cli',
      });
      await w.waitState(a.deploy.id, ['succeeded']);
      const b = await m.request({
        repo: 'acme/api',
        selector: (await w.published('b')).id,
        environment: 'staging',
        kind: 'deploy',
        actor: alice,
        source: 'cli',
      });
      const bDone = await w.waitState(b.deploy.id, ['succeeded']);
      assert.equal(bDone.previousRef, publication('a').ref);
      const back = await m.rollback({ repo: 'acme/api', environment: 'staging', actor: alice, source: 'cli' });
      const rolled = await w.waitState(back.deploy.id, ['succeeded']);
      assert.equal(rolled.kind, 'rollback');
      assert.equal(rolled.ref, publication('a').ref);
      assert.equal(w.target.runs, publication('a').ref);
      await m.close(); // lets the runner post the last status

      assert.deepEqual(
        gh.deployments.map((d) => [d.repo, d.ref, d.environment, d.statuses.map((s) => s.state)]),
        [
          ['acme/api', 'a'.repeat(40), 'staging', ['in_progress', 'success']],
          ['acme/api', 'b'.repeat(40), 'staging', ['in_progress', 'success']],
          ['acme/api', 'a'.repeat(40), 'staging', ['in_progress', 'success']],
        ],
      );
      assert.deepEqual(gh.deployments[0]!.payload, { image, digest: publication('a').digest, ref: publication('a').ref, bosunDeploy: a.deploy.id });
      const hist = await w.store.history({ environment: 'staging' });
      assert.deepEqual(
        hist.map((d) => [d.kind, d.state]),
        [
          ['rollback', 'succeeded'],
          ['deploy', 'succeeded'],
          ['deploy', 'succeeded'],
        ],
      );
      const audit = (await w.audit.list()).map((e) => e.action);
      assert.equal(audit.filter((x) => x === 'deploy.succeeded').length, 3);
    } finally {
      await gh.stop();
    }
  });
});

describe('deploy.status events are written with the record, in one step', () => {
  it('every state a deploy goes through is one event, in order, saying that state', async () => {
    const w = await world();
    const m = w.make();
    const r = await m.request({ repo: 'acme/api', selector: (await w.published('c')).id, environment: 'staging', kind: 'deploy', actor: alice, source: 'cli' });
    await w.waitState(r.deploy.id, ['succeeded']);
    await m.close();
    const events = (await new EventBus(w.client, silentLogger(), w.prefix).range()).filter((e) => e.type === 'deploy.status' && e.deployId === r.deploy.id);
    assert.deepEqual(
      events.map((e) => (e.type === 'deploy.status' ? [e.state, e.text.split(':')[0]] : [])),
      [
        ['queued', `Deploy #${r.deploy.id} of acme/api@ccccccc (build #${r.deploy.buildId}, cccccccccccc) to staging is queued.`],
        ['running', `Deploy #${r.deploy.id}`],
        ['succeeded', `Deploy #${r.deploy.id}`],
      ],
    );
  });

  it('a write whose event cannot be appended writes nothing: never a record without its event', async () => {
    const w = await world();
    const m = w.make();
    const r = await m.request({ repo: 'acme/api', selector: (await w.published('d')).id, environment: 'staging', kind: 'deploy', actor: alice, source: 'cli' });
    const done = await w.waitState(r.deploy.id, ['succeeded']);
    await m.close();
    // The stream key made unusable: appending to it fails inside the script.
    await w.client.del(`${w.prefix}:events`);
    await w.client.set(`${w.prefix}:events`, 'not a stream');
    await assert.rejects(
      w.store.update(
        done.id,
        (d) => ((d.reason = 'changed'), true),
        () => 'an event',
      ),
    );
    assert.deepEqual(await w.store.get(done.id), done, 'the record is unchanged');
    await assert.rejects(w.store.create({ ...done, id: '9999', state: 'queued', version: 0 }, 'queued'));
    assert.equal(await w.store.get('9999'), null);
    assert.deepEqual(
      (await w.store.history({ environment: 'staging' })).map((d) => d.id),
      [done.id],
    );
  });
});

describe('a promotion deploys the digest that was approved', () => {
  async function promotionWorld(approvers: string) {
    const w = await world();
    const environments = Environments.parse({
      production: { repo: 'acme/api', approvers: 'release', autoDeploy: { branch: 'production' }, target: { swarmService: { name: 'api-prod' } } },
    });
    const opened: string[] = [];
    const m = new DeployManager({
      environments,
      approvalsRequired: () => 1,
      store: w.store,
      builds: w.builds,
      audit: w.audit,
      log: silentLogger(),
      target: () => w.target,
      approvalBuilds: {
        create: async (input) => (opened.push(input.sha), recordBuild(w.builds, { repo: 'acme/api', sha: input.sha, status: 'waiting', event: 'manual' })),
      },
    });
    const candidate = await w.published('a');
    const promotion = await recordBuild(w.builds, { repo: 'acme/api', sha: 'a'.repeat(40), event: 'manual' });
    const { build } = await w.builds.update(promotion.id, (b) => {
      b.trigger = { event: 'promotion', source: 'slack', actor: alice };
      b.stages = [
        {
          name: 'promote',
          status: 'success',
          needs: [],
          labels: [],
          resources: [],
          steps: [],
          checkpoint: { instructions: '', checklist: [], timeoutSec: 60, approvers, kind: 'approval' },
          checkpointState: {
            deadline: '',
            requestedBy: alice.id,
            required: 1,
            sha: b.sha,
            approvals: [{ actor: { id: 'slack:T/bob', name: 'bob' }, decision: 'pass', at: '', source: 'slack' }],
            decision: { actor: { id: 'slack:T/bob', name: 'bob' }, decision: 'pass', at: '', source: 'slack' },
          },
        },
      ];
      return [];
    });
    const ids = await deployPromotion({ manager: m, builds: w.builds, environments, productionBranch: 'production', log: silentLogger() }, build);
    return { w, m, ids, candidate, opened };
  }

  it("approved by the production approvers: production runs the promoted commit's digest, with their approval, without asking again", async () => {
    const { w, m, ids, candidate, opened } = await promotionWorld('release');
    assert.equal(ids.length, 1);
    const d = await w.waitState(ids[0]!, ['succeeded']);
    assert.equal(d.buildId, candidate.id);
    assert.equal(d.ref, publication('a').ref);
    assert.deepEqual(
      d.approvals.map((a) => a.actor.name),
      ['bob'],
    );
    assert.deepEqual(opened, []);
    assert.equal(await m.hasPromotedCommit('production', 'a'.repeat(40)), true, 'the production push build will not deploy a rebuild');
    await m.close();
  });

  it('approved by another group: the production approvers are still asked', async () => {
    const { w, m, ids, opened } = await promotionWorld('qa');
    assert.equal((await w.store.get(ids[0]!))?.state, 'awaiting_approval');
    assert.deepEqual(opened, ['a'.repeat(40)]);
    assert.deepEqual(w.target.applies, []);
    await m.close();
  });
});
