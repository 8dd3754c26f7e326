import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { RunDeployTarget } from '../../src/deploys/run-deploy-target.js';
import { RunTarget } from '../../src/deploys/environment-config.js';
import type { Deploy } from '../../src/domain/deploy.js';
import { silentLogger } from '../../src/logger.js';
import { requireDocker } from '../support/require-docker.js';

// A `run:` target is a deploy step in a container through the Docker executor: it gets the
// environment's secret as a file (and variable) and what to deploy; its exit code decides.
const dir = mkdtempSync(join(tmpdir(), 'bosun-run-target-'));
const executor = new DockerExecutor({ docker: new Docker(), instanceId: `runtarget-${process.pid}`, log: silentLogger(), timeoutGraceMs: 2000 });
after(async () => {
  await executor.close();
  rmSync(dir, { recursive: true, force: true });
});

const digest = `sha256:${'b'.repeat(64)}`;
const deploy: Deploy = {
  id: '9',
  environment: 'staging',
  repo: 'acme/api',
  buildId: '4',
  sha: 'a'.repeat(40),
  image: '127.0.0.1:5000/acme/api',
  digest,
  ref: `127.0.0.1:5000/acme/api@${digest}`,
  kind: 'deploy',
  requestedBy: { id: 'cli:a', name: 'a' },
  source: 'cli',
  state: 'running',
  approvals: [],
  createdAt: new Date().toISOString(),
  version: 1,
};

function target(commands: string[], lines: string[]): RunDeployTarget {
  return new RunDeployTarget('staging', RunTarget.parse({ image: 'bosun/busybox:1', commands, secrets: ['DEPLOY_TOKEN'], timeoutSec: 60 }), {
    executor: async () => executor,
    secrets: { DEPLOY_TOKEN: 'deploy-token-value-42' },
    instanceId: `runtarget-${process.pid}`,
    workDir: dir,
    log: silentLogger(),
    limits: { cpus: 1, memoryBytes: 128 * 2 ** 20, pids: 64 },
    onLine: (_d, line) => lines.push(line),
  });
}

test(
  "a deploy step in a container gets the environment's secret and the digest; exit 0 succeeds, anything else fails with its last lines",
  { timeout: 120_000 },
  async (t) => {
    if (!(await requireDocker(t))) return;
    const lines: string[] = [];
    const ok = await target(
      [
        'test "$(cat "$BOSUN_SECRETS_DIR/DEPLOY_TOKEN")" = "deploy-token-value-42"',
        'test -n "$DEPLOY_TOKEN"',
        'echo "deploying $BOSUN_DEPLOY_REF to $BOSUN_DEPLOY_ENVIRONMENT"',
      ],
      lines,
    ).apply(deploy, new AbortController().signal);
    assert.deepEqual(ok, { outcome: 'succeeded' });
    assert.ok(lines.includes(`deploying ${deploy.ref} to staging`), lines.join('\n'));

    const bad = await target(['echo "cluster says no"', 'exit 3'], []).apply(deploy, new AbortController().signal);
    assert.equal(bad.outcome, 'failed');
    assert.match(bad.reason ?? '', /exit code 3; last lines: .*cluster says no/);
    assert.deepEqual(await target(['true'], []).observe(), {
      outcome: 'failed',
      reason: 'its deploy step was cut off with its runner; Bosun does not run a deploy step twice — check the environment and deploy again',
    });
  },
);
