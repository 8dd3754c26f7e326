import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { recordBuild } from '../support/published-image.js';
import { DeployStore } from '../../src/deploys/deploy-store.js';
import type { Build } from '../../src/domain/build.js';
import type { Deploy } from '../../src/domain/deploy.js';
import { findStage } from '../../src/domain/build.js';

// A repository secret scoped to an environment (`repos.<repo>.secrets: [{ name, environments }]`,
// docs/secrets.md): the environment's `run:` deploy step gets it; no build step ever does, not
// even a trusted build's on master: the spec is refused at its line, and a step that asks anyway
// (server config changed after the build started) runs without it, says why, and is audited.

const prodKey = `prod-key-${process.pid}-value`;
const ciToken = `ci-token-${process.pid}-value`;

describe('secrets scoped to an environment (local executor)', { timeout: 300_000 }, () => {
  let h: Harness;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bosun-scoped-'));
    const deployStep = (env: string) => ({
      run: {
        image: 'any',
        commands: [
          `echo "${env} key=[$(cat "$BOSUN_SECRETS_DIR/PROD_KEY" 2>/dev/null || echo none)] var=[\${PROD_KEY:-none}]" >> ${join(dir, 'deployed.log')}`,
        ],
      },
    });
    h = await startHarness({
      executor: 'local', // deploy steps too (makeDeployManager picks the executor from config)
      secrets: { PROD_KEY: prodKey, CI_TOKEN: ciToken },
      // The url is set once the repository exists (below); environments need the repository at start.
      repos: { app: { url: 'file:///nonexistent', secrets: ['CI_TOKEN', { name: 'PROD_KEY', environments: ['production'] }] } },
      environments: { staging: { repo: 'app', target: deployStep('staging') }, production: { repo: 'app', target: deployStep('production') } },
    });
  });

  after(async () => {
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const log = async (b: Build, stage: string, step: string): Promise<string> =>
    (await h.api('GET', `/api/builds/${b.id}/logs/${stage}/${step}`)).json as string;
  const secretAudit = async (b: Build) => (await h.server.core.audit.list(10_000)).filter((e) => e.buildId === b.id && e.action.startsWith('secret.'));

  it('a trusted build on master asking for it fails at its line, before anything runs', async () => {
    const repo = await makeRepo(h.dataDir, 'app', {
      'bosun.yml': [
        'version: 1',
        'image: any',
        'stages:',
        '  release:',
        '    steps:',
        '      - name: upload',
        '        run: echo never',
        '        secrets: [CI_TOKEN, PROD_KEY]',
        '',
      ].join('\n'),
    });
    h.server.core.config.repos.app!.url = repo.url;

    const res = await h.api('POST', '/api/builds', { repo: 'app', ref: 'master' });
    const b = await h.waitDone(res.json.build.id, 60_000);

    assert.equal(b.status, 'failed');
    assert.equal(b.stages.length, 0);
    assert.equal(b.error?.code, 'spec_invalid');
    assert.equal(
      b.error?.message,
      'bosun.yml:8:29 stages.release.steps[0].secrets[1]: secret `PROD_KEY` is scoped to environment production (server config repos.app.secrets): only its deploy step gets it, never a build step',
    );
  });

  it('a step asking for it at run time (config changed since the build started) runs without it; the log and the audit say why', async () => {
    const gate = join(dir, 'gate');
    const repo = await makeRepo(h.dataDir, 'app2', {
      'bosun.yml': [
        'version: 1',
        'image: any',
        'stages:',
        '  first:',
        `    steps: [{ name: wait, run: 'i=0; while [ ! -e ${gate} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done' }]`,
        '  release:',
        '    needs: [first]',
        '    steps:',
        '      - name: upload',
        '        run: echo "file=[$(cat "$BOSUN_SECRETS_DIR/PROD_KEY" 2>/dev/null || echo none)] ci=[$(cat "$BOSUN_SECRETS_DIR/CI_TOKEN")]"',
        '        secrets: [CI_TOKEN, PROD_KEY]',
        '',
      ].join('\n'),
    });
    h.server.core.config.repos.app2 = { url: repo.url, defaultBranch: 'master', secrets: ['CI_TOKEN', 'PROD_KEY'] };

    const res = await h.api('POST', '/api/builds', { repo: 'app2', ref: 'master' });
    await h.waitFor(res.json.build.id, (b) => findStage(b, 'first')?.status === 'running', 60_000);
    h.server.core.config.repos.app2.secrets = ['CI_TOKEN', { name: 'PROD_KEY', environments: ['production'] }];
    writeFileSync(gate, '');
    const b = await h.waitDone(res.json.build.id, 120_000);

    assert.equal(b.status, 'success', JSON.stringify(b.stages));
    const upload = await log(b, 'release', 'upload');
    assert.match(upload, /^bosun: secret PROD_KEY withheld: scoped to environment production \(only its deploy step gets it, never a build step\)$/m, upload);
    assert.match(upload, /^file=\[none\] ci=\[\[REDACTED\]\]$/m, upload);
    assert.ok(!upload.includes(prodKey));
    assert.deepEqual(
      (await secretAudit(b)).map((a) => [a.action, a.outcome, a.stage, a.step, a.secrets, a.detail]),
      [
        ['secret.deliver', 'ok', 'release', 'upload', 'CI_TOKEN', undefined],
        ['secret.withhold', 'denied', 'release', 'upload', 'PROD_KEY', 'scoped to environment production (only its deploy step gets it, never a build step)'],
      ],
    );
    assert.ok(!JSON.stringify(await h.server.core.audit.list(10_000)).includes(prodKey), 'no value in the audit trail');
  });

  it("production's deploy step gets it; staging's does not", async () => {
    const core = h.server.core;
    const store = new DeployStore(core.redis, core.prefix);
    const digest = `sha256:${'c'.repeat(64)}`;
    const publication = {
      kind: 'docker' as const,
      stage: 'release',
      image: '127.0.0.1:5999/acme/app',
      tag: 'a'.repeat(40),
      digest,
      ref: `127.0.0.1:5999/acme/app@${digest}`,
      publishedAt: new Date().toISOString(),
    };
    const built = await recordBuild(core.store, { repo: 'app', sha: 'a'.repeat(40), publication });

    for (const env of ['staging', 'production']) {
      const res = await h.api('POST', '/api/commands', { text: `deploy app@${built.id} to ${env}` });
      const id = /Deploy #(\d+)/.exec(JSON.stringify(res.json))?.[1];
      assert.ok(id, JSON.stringify(res.json));
      const done = await waitDeploy(store, id, ['succeeded', 'failed', 'refused']);
      assert.equal(done.state, 'succeeded', JSON.stringify(done));
    }

    const lines = readFileSync(join(dir, 'deployed.log'), 'utf8').trim().split('\n');
    assert.deepEqual(lines, ['staging key=[none] var=[none]', `production key=[${prodKey}] var=[${prodKey}]`]);
  });
});

async function waitDeploy(store: DeployStore, id: string, states: string[]): Promise<Deploy> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const d = await store.get(id);
    if (d && states.includes(d.state)) return d;
    if (Date.now() > deadline) throw new Error(`deploy ${id}: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
