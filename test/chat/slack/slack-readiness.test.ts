import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSlackBed } from './slack-test-bed.js';
import { eventually } from '../../github/github-harness.js';

test('/readyz reports the Slack Socket Mode connection: ready while connected, not ready once Slack is gone', async () => {
  const bed = await startSlackBed('socket');
  const readyz = async () => {
    const res = await fetch(`${bed.h.url}/readyz`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, json: (await res.json()) as { ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> } };
  };
  try {
    const up = await eventually(readyz, (r) => r.status === 200, 15_000);
    assert.deepEqual(up.json.checks.slack, { ok: true, detail: 'Socket Mode connected' });
    await bed.fake.stop();
    const down = await eventually(readyz, (r) => r.status === 503, 30_000);
    assert.deepEqual(down.json.checks.slack, { ok: false, detail: 'Socket Mode not connected' });
    assert.equal(down.json.checks.redis?.ok, true);
  } finally {
    await bed.h.stop();
  }
});
