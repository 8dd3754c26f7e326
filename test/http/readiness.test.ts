import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { startHarness } from '../support/bosun-harness.js';
import { requireDocker } from '../support/require-docker.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { silentLogger } from '../../src/logger.js';

const readyz = async (url: string) => {
  const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, json: (await res.json()) as { ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> } };
};

test('/readyz with the local executor checks Redis only: no engine is needed', async () => {
  const h = await startHarness();
  try {
    const r = await readyz(h.url);
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json.checks), ['redis']);
  } finally {
    await h.stop();
  }
});

const engines: { name: string; dockerHost: string; ok: boolean }[] = [
  { name: 'an engine that answers: ready', dockerHost: 'unix:///var/run/docker.sock', ok: true },
  { name: 'an engine that is not there: not ready, and says which', dockerHost: 'unix:///nonexistent/bosun-readiness-docker.sock', ok: false },
];

for (const e of engines) {
  test(`/readyz with a container executor pings its engine — ${e.name}`, async (t) => {
    if (!(await requireDocker(t))) return;
    const h = await startHarness(
      { dockerHost: e.dockerHost },
      {
        executor: () => new DockerExecutor({ docker: new Docker(), instanceId: `readyz-${process.pid}`, log: silentLogger(), timeoutGraceMs: 2000 }),
      },
    );
    try {
      const r = await readyz(h.url);
      assert.equal(r.status, e.ok ? 200 : 503, JSON.stringify(r.json));
      assert.equal(r.json.checks.executor?.ok, e.ok);
      assert.equal(r.json.checks.redis?.ok, true);
      if (!e.ok) assert.match(r.json.checks.executor?.detail ?? '', /ENOENT|connect/);
    } finally {
      await h.stop();
    }
  });
}
