import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { startHarness, testToken } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { requireDocker } from '../support/require-docker.js';
import { sweepInstance } from '../executor/docker-harness.js';
import { selectExecutor } from '../../src/executor/select-executor.js';
import { dockerClient } from '../../src/app/make-executor.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';

// An out-of-memory step used to show only `Killed` (the record said `oom`): now its record,
// its log, `status` and `bosun watch` all say "out of memory (limit 32 MiB)".
const spec = [
  'version: 1',
  'image: bosun/busybox:1',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: mem',
  '        run: dd if=/dev/zero of=/dev/null bs=128M count=1',
  '',
].join('\n');

// `sandbox: stage` (docs/sandbox.md): the step exec'd in its stage's sandbox, killed there by the kernel.
for (const sandbox of ['step', 'stage'] as const) {
  test(`an out-of-memory step says so, with its limit, in its record, log, status and bosun watch (sandbox: ${sandbox})`, async (t) => {
    if (!(await requireDocker(t))) return;
    const instanceId = `oom${process.pid}${sandbox}`;
    const docker = dockerClient(loadConfig({}));
    const h = await startHarness(
      { limits: { memoryMb: 32, killGraceSec: 2 } },
      {
        executorAsync: async (dataDir) =>
          selectExecutor({
            docker,
            preferred: 'docker',
            instanceId,
            dataDir,
            log: silentLogger(),
            sandbox,
          }),
      },
    );
    try {
      const repo = await makeRepo(h.dataDir, 'hungry', { 'bosun.yml': spec });
      h.server.core.config.repos.hungry = { url: repo.url, defaultBranch: 'master', secrets: [] };
      const res = await h.api('POST', '/api/builds', { repo: 'hungry', ref: 'master' });
      const b = await h.waitDone(res.json.build.id, 180_000);

      const step = b.stages[0]!.steps[0]!;
      assert.deepEqual({ status: step.status, reason: step.reason, detail: step.detail }, { status: 'failed', reason: 'oom', detail: 'limit 32 MiB' });
      const log = await h.api('GET', `/api/builds/${b.id}/logs/test/mem`);
      assert.equal(String(log.json).trimEnd().split('\n').at(-1), 'bosun: the step ran out of memory (limit 32 MiB) and was killed');
      const status = await h.api('POST', '/api/commands', { text: `status ${b.id}` });
      assert.ok(status.json.text.split('\n').includes('      ✘ mem: failed (out of memory (limit 32 MiB))'), status.json.text);

      const watched = await new Promise<{ out: string; code: number }>((resolve) => {
        execFile(
          join(process.cwd(), 'bin', 'bosun'),
          ['watch', b.id],
          { env: { PATH: process.env.PATH ?? '', HOME: h.dataDir, BOSUN_URL: h.url, BOSUN_API_TOKEN: testToken }, timeout: 60_000 },
          (err, stdout) => resolve({ out: stdout, code: err ? ((err as { code?: number }).code ?? 1) : 0 }),
        );
      });
      const lines = watched.out.trimEnd().split('\n');
      assert.match(lines.find((l) => l.startsWith('✘ test/mem')) ?? '', /^✘ test\/mem: failed, out of memory \(limit 32 MiB\), after \d+\.\ds$/);
      assert.match(
        lines.find((l) => l.startsWith('===')) ?? '',
        /^=== build #\d+ failed after [\d.]+s: step test\/mem failed: out of memory \(limit 32 MiB\)$/,
      );
      assert.equal(watched.code, 1);
    } finally {
      await h.stop();
      // A failed build keeps its workspace (volume and network) for a while, by design: this
      // test's would outlive it. Left on the engine, each run took one of its ~30 bridge subnets.
      await sweepInstance(docker, instanceId);
    }
  });
}
