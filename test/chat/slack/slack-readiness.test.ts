import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSlackBed } from './slack-test-bed.js';
import { eventually } from '../../github/github-harness.js';

test('/readyz reports the Slack Socket Mode connection: ready while connected, not ready once Slack is gone', async () => {
  const bed = await startSlackBed('socket');
  const readyz = async () => {
    const res = await fetch(`${bed.h.url}/readyz`, { signal: AbortSignal.timeout(15_000) });
    return { status: res.status, json: (await res.json()) as { ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> } };
  };
  try {
    const up = await eventually(readyz, (r) => r.status === 200, 60_000);
    assert.deepEqual(up.json.checks.slack, { ok: true, detail: 'Socket Mode connected' });
    await bed.fake.stop();
    const down = await eventually(readyz, (r) => r.status === 503, 30_000);
    assert.deepEqual(down.json.checks.slack, { ok: false, detail: 'Socket Mode not connected' });
    assert.equal(down.json.checks.redis?.ok, true);
  } finally {
    await bed.h.stop();
  }
});

test('socket mode while Redis is unreachable: a command is acked and the person is told to retry, not left waiting', async () => {
  const bed = await startSlackBed('socket', { workers: 0 }); // the front end alone
  try {
    await bed.h.redis.kill();
    await eventually(
      async () => (await fetch(`${bed.h.url}/readyz`)).status,
      (s) => s === 503,
      60_000,
    );
    const ack = await bed.command('status', 'U42', { channel: 'C9' });
    assert.ok(ack.ms < 3000, "acked within Slack's 3 s");
    const told = await eventually(
      () => bed.fake.ephemerals.filter((e) => e.user === 'U42'),
      (e) => e.length > 0,
      60_000,
    );
    assert.match(told[0]!.text, /Bosun's Redis is unreachable, retry in \d+ s/);
    await bed.h.redis.restart();
  } finally {
    await bed.stop();
  }
});
