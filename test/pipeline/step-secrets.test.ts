import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import Docker from 'dockerode';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { LocalExecutor } from '../../src/executor/local/local-executor.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import type { Executor } from '../../src/executor/executor.js';
import { createBuild } from '../../src/pipeline/create-build.js';
import { silentLogger } from '../../src/logger.js';
import type { Build } from '../../src/domain/build.js';
import { baseImage, engineForTests, sweepInstance, testInstanceId } from '../executor/docker-harness.js';

// R14 end to end: a trusted build's declared step reads its secret (file and variable), an
// undeclared step reads nothing, an untrusted build's step runs without it and says why, every
// delivery and refusal is audited with names only, and an ungranted name fails the spec.

const token = `pypi-${process.pid}-${'x'.repeat(8)}-"q'uote"`;
const signingKey = `-----BEGIN KEY-----\nline-${process.pid}\n-----END KEY-----`;
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

function spec(image: string): string {
  return [
    'version: 1',
    `image: ${image}`,
    'stages:',
    '  release:',
    '    secrets: [SIGNING_KEY]',
    '    steps:',
    '      - name: upload',
    '        secrets: [{ name: PYPI_TOKEN, env: TWINE_PASSWORD }]',
    '        run:',
    '          - echo "file=$(sha256sum "$BOSUN_SECRETS_DIR/PYPI_TOKEN" | cut -c1-64) key=$(sha256sum "$BOSUN_SECRETS_DIR/SIGNING_KEY" | cut -c1-64)" || true',
    '          - echo "env=$(printf %s "${TWINE_PASSWORD:-}" | sha256sum | cut -c1-64) set=${TWINE_PASSWORD:+yes}"',
    '          - \'echo "echoed: ${TWINE_PASSWORD:-nothing}"\'',
    '  later:',
    '    needs: [release]',
    '    steps:',
    '      - name: undeclared',
    '        run: \'echo "dir=[${BOSUN_SECRETS_DIR:-}] var=[${TWINE_PASSWORD:-}]"; test -n "$(ls -A /run/secrets 2>/dev/null)" || echo none-here\'',
    '',
  ].join('\n');
}

const engine = await engineForTests(true);
const executors: { name: string; image: string; make(dataDir: string): Executor }[] = [
  { name: 'local', image: 'any', make: (dataDir) => new LocalExecutor({ instanceId: testInstanceId, dataDir, log: silentLogger(), timeoutGraceMs: 2000 }) },
  ...(engine
    ? [
        {
          name: 'docker',
          image: baseImage,
          make: () => new DockerExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 }),
        },
        {
          name: 'swarm',
          image: baseImage,
          make: () => new SwarmExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 }),
        },
        // `sandbox: stage` (docs/sandbox.md): the same pipeline, each stage's steps exec'd in one sandbox.
        {
          name: 'docker-sbx',
          image: baseImage,
          make: () => new DockerExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' as const }),
        },
        {
          name: 'swarm-sbx',
          image: baseImage,
          make: () => new SwarmExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' as const }),
        },
      ]
    : []),
];

for (const e of executors) {
  describe(`step secrets through the pipeline: ${e.name}`, { timeout: 300_000 }, () => {
    let h: Harness;
    const repoName = `sec-${e.name}`;

    before(async () => {
      h = await startHarness({ secrets: { PYPI_TOKEN: token, SIGNING_KEY: signingKey, UNRELATED_SECRET: 'not-for-this-repo' } }, { executor: e.make });
      const repo = await makeRepo(h.dataDir, repoName, { 'bosun.yml': spec(e.image) });
      h.server.core.config.repos[repoName] = { url: repo.url, defaultBranch: 'master', secrets: ['PYPI_TOKEN', 'SIGNING_KEY'] };
    });

    after(async () => {
      await h?.stop();
      if (engine) await sweepInstance(engine as Docker);
    });

    const log = async (b: Build, stage: string, step: string): Promise<string> =>
      (await h.api('GET', `/api/builds/${b.id}/logs/${stage}/${step}`)).json as string;
    const auditOf = async (b: Build) =>
      (await h.server.core.audit.list(10_000)).filter((entry) => entry.buildId === b.id && entry.action.startsWith('secret.'));

    it('a trusted build: the declared step reads its secrets as files and variable, redacted if printed; the undeclared step gets nothing', async () => {
      const res = await h.api('POST', '/api/builds', { repo: repoName, ref: 'master' });
      const b = await h.waitDone(res.json.build.id, 240_000);

      assert.equal(b.status, 'success', JSON.stringify(b.stages));
      const upload = await log(b, 'release', 'upload');
      assert.match(upload, new RegExp(`^file=${sha256(token)} key=${sha256(signingKey)}$`, 'm'), upload);
      assert.match(upload, new RegExp(`^env=${sha256(token)} set=yes$`, 'm'));
      assert.match(upload, /^echoed: \[REDACTED\]$/m, 'a delivered secret printed by the step is redacted');
      assert.match(upload, /^bosun: secrets delivered as files in \$BOSUN_SECRETS_DIR: SIGNING_KEY, PYPI_TOKEN \(also as \$TWINE_PASSWORD\)$/m);
      assert.ok(!upload.includes(token) && !upload.includes('BEGIN KEY'));
      const undeclared = await log(b, 'later', 'undeclared');
      assert.match(undeclared, /^dir=\[\] var=\[\]$/m);
      assert.match(undeclared, /^none-here$/m);
      const audit = await auditOf(b);
      assert.deepEqual(
        audit.map((a) => [a.action, a.outcome, a.stage, a.step, a.secrets]),
        [['secret.deliver', 'ok', 'release', 'upload', 'SIGNING_KEY,PYPI_TOKEN']],
      );
      assert.ok(!JSON.stringify(await h.server.core.audit.list(10_000)).includes(token), 'no value in the audit trail');
    });

    it('an untrusted build (fork PR, ok-to-test): the step runs without the secrets and the log and audit say why', async () => {
      const { build } = await createBuild(h.server.core.deps, {
        repo: repoName,
        ref: 'master',
        trigger: { event: 'pull_request', source: 'github', actor: { id: 'github:999', name: 'outsider' }, pullRequest: 7, untrusted: true },
      });
      const b = await h.waitDone(build!.id, 240_000);

      assert.equal(b.status, 'success', JSON.stringify(b.stages));
      const upload = await log(b, 'release', 'upload');
      assert.match(upload, /^bosun: secret SIGNING_KEY withheld: untrusted build \(fork or outsider pull request, or approved with ok-to-test\)$/m);
      assert.match(upload, /^bosun: secret PYPI_TOKEN withheld: untrusted build/m);
      assert.match(upload, new RegExp(`^env=${sha256('')} set=$`, 'm'), 'the variable is empty');
      assert.doesNotMatch(upload, /^file=[0-9a-f]{64} /m, 'no secret file');
      assert.match(upload, /^echoed: nothing$/m);
      const audit = await auditOf(b);
      assert.deepEqual(
        audit.map((a) => [a.action, a.outcome, a.stage, a.step, a.secrets]),
        [['secret.withhold', 'denied', 'release', 'upload', 'SIGNING_KEY,PYPI_TOKEN']],
      );
    });

    it('a secret server config does not grant the repository fails the build with its line, before anything runs', async () => {
      const name = `${repoName}-ungranted`;
      const repo = await makeRepo(h.dataDir, name, { 'bosun.yml': spec(e.image).replace('[SIGNING_KEY]', '[UNRELATED_SECRET, PROD_KEY]') });
      h.server.core.config.repos[name] = { url: repo.url, defaultBranch: 'master', secrets: ['PYPI_TOKEN', 'SIGNING_KEY'] };

      const res = await h.api('POST', '/api/builds', { repo: name, ref: 'master' });
      const b = await h.waitDone(res.json.build.id, 60_000);

      assert.equal(b.status, 'failed');
      assert.equal(b.stages.length, 0);
      assert.equal(b.error?.code, 'spec_invalid');
      assert.deepEqual(b.error?.message.split('\n'), [
        '2 problems in the build spec:',
        `bosun.yml:5:15 stages.release.secrets[0]: secret \`UNRELATED_SECRET\` is not granted to this repository (server config repos.${name}.secrets does not list it)`,
        `bosun.yml:5:33 stages.release.secrets[1]: secret \`PROD_KEY\` is not granted to this repository (server config repos.${name}.secrets does not list it)`,
      ]);
      assert.equal(b.error?.details?.length, 2);
    });
  });
}
