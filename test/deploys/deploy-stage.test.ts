import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { recordBuild, recordPublication } from '../support/published-image.js';
import { BuildStore } from '../../src/storage/build-store.js';
import { AuditLog } from '../../src/storage/audit-log.js';
import { DeployStore } from '../../src/deploys/deploy-store.js';
import { DeployManager } from '../../src/deploys/deploy-manager.js';
import { ManagerStageDeployer } from '../../src/deploys/stage-deployer.js';
import type { DeployTarget, TargetResult } from '../../src/deploys/deploy-target.js';
import { Environments } from '../../src/deploys/environment-config.js';
import type { Build } from '../../src/domain/build.js';
import type { Deploy } from '../../src/domain/deploy.js';
import type { DockerPublication } from '../../src/domain/publication.js';
import { silentLogger } from '../../src/logger.js';

// A deploy stage's deploys (`deploy: <environment>` in bosun.yml) against a real Redis and the
// real DeployManager, with a target that records what it was told to do. The whole flow on a
// Swarm service is test/deploys/seed-flow.test.ts.

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

/** Applies wait for `release()`; the outcome is `result`. */
class RecordingTarget implements DeployTarget {
  applies: string[] = [];
  runs: string | null = null;
  result: TargetResult = { outcome: 'succeeded' };
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
    await Promise.race([this.gate, new Promise((r) => signal.addEventListener('abort', r, { once: true }))]);
    if (this.result.outcome === 'succeeded') this.runs = d.ref;
    return this.result;
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
  return { kind: 'docker', stage: 'release', image, tag: hexChar.repeat(40), digest, ref: `${image}@${digest}`, publishedAt: new Date().toISOString() };
}

async function world() {
  const prefix = `ds${++n}`;
  const client = redis.client();
  const builds = new BuildStore(client, prefix);
  const store = new DeployStore(client, prefix);
  const target = new RecordingTarget();
  const environments = Environments.parse({
    staging: { repo: 'acme/api', target: { swarmService: { name: 'api-staging' } } },
    production: { repo: 'acme/api', approvers: 'release', target: { swarmService: { name: 'api-prod' } } },
    web: { repo: 'acme/web', target: { swarmService: { name: 'web-staging' } } },
  });
  const manager = new DeployManager({
    environments,
    approvalsRequired: () => 1,
    store,
    builds,
    audit: new AuditLog(client, prefix),
    log: silentLogger(),
    target: () => target,
  });
  const deployer = new ManagerStageDeployer({ manager, store, environments, pollMs: 20 });
  /** A running push build of acme/api whose `release` stage published an image (unless `hexChar` is null). */
  const build = async (hexChar: string | null, patch: Partial<Build['trigger']> = {}): Promise<Build> => {
    const b = await recordBuild(builds, { repo: 'acme/api', sha: (hexChar ?? 'e').repeat(40), stages: ['release'], status: 'running' });
    const withImage = hexChar ? await recordPublication(builds, b.id, publication(hexChar)) : b;
    return { ...withImage, trigger: { ...withImage.trigger, ...patch } };
  };
  const run = async (b: Build, environment = 'staging', signal = new AbortController().signal) => {
    const lines: string[] = [];
    const ids: string[] = [];
    const result = await deployer.deploy({
      build: b,
      stage: 'deploy-staging',
      environment,
      signal,
      onLine: (l) => lines.push(l),
      onDeploy: async (id) => void ids.push(id),
    });
    return { ...result, lines, ids };
  };
  return { builds, store, target, manager, deployer, build, run };
}

describe('a deploy stage deploys the build’s published image, and its outcome is the deploy’s', () => {
  it('succeeds once the environment runs the digest, its log telling each state', async () => {
    const w = await world();
    const b = await w.build('a');
    const r = await w.run(b);
    assert.equal(r.outcome, 'success', r.lines.join('\n'));
    assert.deepEqual(w.target.applies, [publication('a').ref]);
    assert.equal(r.ids.length, 1);
    const d = (await w.store.get(r.ids[0]!))!;
    assert.deepEqual(
      [d.state, d.kind, d.source, d.buildId, d.ref, d.stage],
      ['succeeded', 'auto', 'deploy-stage', b.id, publication('a').ref, { name: 'deploy-staging', attempt: 1 }],
    );
    assert.match(r.lines[0]!, new RegExp(`^bosun: deploying ${image}@sha256:a{64} \\(build #${b.id}, acme/api@aaaaaaa\\) to staging$`));
    assert.match(r.lines.join('\n'), /is queued\./);
    assert.match(r.lines.at(-1)!, new RegExp(`^bosun: deploy #${d.id} succeeded: staging runs ${image}@sha256:a{64}$`));
    await w.manager.close();
  });

  it('fails when the deploy fails or is rolled back, with the reason', async () => {
    const w = await world();
    w.target.result = { outcome: 'rolled_back', reason: 'the new task failed its health check' };
    const r = await w.run(await w.build('b'));
    assert.equal(r.outcome, 'failed');
    assert.match(r.reason ?? '', /^deploy #\d+ of staging acme\/api@bbbbbbb \(bbbbbbbbbbbb\) rolled back: the new task failed its health check$/);
    assert.equal(r.lines.at(-1), `bosun: ${r.reason}`);
    await w.manager.close();
  });

  it('run again after its worker died, it follows the deploy it requested: never a second one', async () => {
    const w = await world();
    const b = await w.build('c');
    w.target.hold();
    const first = new AbortController();
    const running = w.run(b, 'staging', first.signal);
    // The first run requested the deploy; the target is applying it.
    for (let i = 0; i < 3000 && w.target.applies.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(w.target.applies.length, 1);
    const again = w.run(b); // the stage run again (its job redelivered)
    w.target.release();
    const [one, two] = await Promise.all([running, again]);
    assert.deepEqual([one.outcome, two.outcome], ['success', 'success']);
    assert.deepEqual(two.ids, one.ids, 'the second run follows the same deploy');
    assert.match(two.lines[0]!, /ran before and requested deploy #\d+: following it/);
    assert.deepEqual(w.target.applies, [publication('c').ref], 'applied once');
    assert.equal((await w.store.history({ environment: 'staging' })).length, 1);
    await w.manager.close();
  });

  it('cancelled while its deploy waits its turn, the deploy is dropped (never applied)', async () => {
    const w = await world();
    w.target.hold();
    // Another deploy holds staging.
    const other = w.run(await w.build('9'));
    for (let i = 0; i < 3000 && w.target.applies.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const cancel = new AbortController();
    const mine = w.run(await w.build('d'), 'staging', cancel.signal);
    let queued: Deploy | undefined;
    for (let i = 0; i < 3000 && queued?.state !== 'queued'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      queued = (await w.store.history({ environment: 'staging' })).find((d) => d.ref === publication('d').ref);
    }
    assert.equal(queued?.state, 'queued');
    cancel.abort();
    const r = await mine;
    assert.equal(r.outcome, 'cancelled');
    assert.match(r.lines.at(-1)!, /the build was cancelled; deploy #\d+ had not started and will not$/);
    w.target.release();
    assert.equal((await other).outcome, 'success');
    assert.equal((await w.store.get(queued!.id))?.state, 'refused');
    assert.deepEqual(w.target.applies, [publication('9').ref]);
    await w.manager.close();
  });
});

describe('a deploy stage refuses what a build may not deploy, with the reason, and deploys nothing', () => {
  const cases: [string, string, Partial<Build['trigger']>, boolean, RegExp][] = [
    ['an environment server config does not have', 'qa', {}, true, /^environment qa is not in server config; nothing deployed$/],
    ["another repository's environment", 'web', {}, true, /^environment web deploys acme\/web, not acme\/api; nothing deployed$/],
    ['an untrusted build', 'staging', { untrusted: true }, true, /this build is untrusted .* never deploys from one; nothing deployed$/],
    [
      'an environment that needs approval',
      'production',
      {},
      true,
      /^production needs approval from "release": a build never deploys there by itself \(use `\/ci promote` or `\/ci deploy acme\/api to production`\); nothing deployed$/,
    ],
    ['a build that published no image', 'staging', {}, false, /^build #\d+ published no image .*; nothing deployed$/],
  ];
  for (const [name, env, trigger, published, reason] of cases) {
    it(name, async () => {
      const w = await world();
      const r = await w.run(await w.build(published ? 'f' : null, trigger), env);
      assert.equal(r.outcome, 'failed');
      assert.match(r.reason ?? '', reason);
      assert.equal(r.lines.at(-1), `bosun: ${r.reason}`);
      assert.deepEqual(w.target.applies, []);
      assert.deepEqual(await w.store.history({ environment: env }), []);
      await w.manager.close();
    });
  }

  it('a locked environment, saying who locked it and why', async () => {
    const w = await world();
    await w.manager.lock('staging', 'database migration', { id: 'cli:ops', name: 'ops' }, 'cli');
    const r = await w.run(await w.build('8'));
    assert.equal(r.outcome, 'failed');
    assert.match(r.reason ?? '', /^staging is locked by ops since .*: database migration — nothing deployed/);
    assert.deepEqual(w.target.applies, []);
    await w.manager.close();
  });
});
