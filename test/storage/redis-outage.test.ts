import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo } from '../support/git-repo.js';
import { signBody } from '../fakes/github-signature.js';
import { pushPayload } from '../fakes/fake-github-payloads.js';
import { startGithubHarness, secret, testSpec, eventually, type GithubHarness } from '../github/github-harness.js';

// An external Redis (REDIS_URL) that goes away: Bosun does not restart it, but it tells the
// truth about it and answers every front end at once with 503 and Retry-After until it is back.

let g: GithubHarness;
let headSha: string;
const sender = { id: 101, login: 'dev' };
/** GitHub gives up on a delivery after 10 s; so does this test's client. */
const githubTimeoutMs = 10_000;

before(async () => {
  // No in-process workers: builds are created (and queued) by the server, none needs to run.
  g = await startGithubHarness({ workers: 0 });
  const repo = await makeRepo(g.h.dataDir, 'api', { 'bosun.yml': testSpec });
  headSha = (await repo.commit({ 'x.txt': 'x' }, 'change')).trim();
  g.h.server.core.config.repos['acme/api'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  g.gh.addRepo('acme/api', repo.dir);
});
after(async () => {
  await g?.stop();
});

interface Answer {
  status: number;
  retryAfter: string | null;
  json: any;
}

async function request(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  try {
    const res = await fetch(`${g.h.url}${path}`, {
      method,
      headers: { authorization: 'Bearer test-token-0123456789abcdef', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(githubTimeoutMs),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // plain text
    }
    return { status: res.status, retryAfter: res.headers.get('retry-after'), json };
  } catch (err) {
    return { status: 0, retryAfter: null, json: String(err) };
  }
}

function delivery(i: number, id: string): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(pushPayload({ repo: 'acme/api', ref: `refs/heads/outage-${i}`, after: headSha, sender }));
  return { body, headers: { 'x-github-event': 'push', 'x-github-delivery': id, 'x-hub-signature-256': signBody(secret, body) } };
}

const sendDelivery = (d: { body: string; headers: Record<string, string> }) => request('POST', '/github/webhooks', d.body, d.headers);

async function ready(): Promise<Answer> {
  return request('GET', '/readyz');
}

async function buildForRef(ref: string) {
  return (await g.h.server.core.store.list({ repo: 'acme/api', limit: 200 })).filter((b) => b.ref === ref);
}

test('while the external Redis is gone: live, not ready, and every front end refuses at once with 503 and Retry-After; all is well once it is back', async () => {
  const before = await ready();
  assert.equal(before.status, 200, JSON.stringify(before.json));
  assert.equal(before.json.checks.redis.ok, true);

  await g.h.redis.kill();
  const down = await eventually(ready, (r) => r.status === 503, 60_000);
  assert.deepEqual({ ready: down.json.ready, redis: down.json.checks.redis.ok }, { ready: false, redis: false });
  assert.match(down.json.checks.redis.detail, /\S/);

  const live = await request('GET', '/healthz');
  assert.equal(live.status, 200, 'liveness does not depend on Redis');

  const refusals: [string, Answer][] = [
    ['API read', await request('GET', '/api/builds')],
    ['API command (the CLI)', await request('POST', '/api/commands', JSON.stringify({ text: 'status' }))],
    ['API write', await request('POST', '/api/builds', JSON.stringify({ repo: 'acme/api', ref: 'master' }))],
    ['GitHub webhook', await sendDelivery(delivery(1000, crypto.randomUUID()))],
  ];
  for (const [name, r] of refusals) {
    assert.equal(r.status, 503, `${name}: ${JSON.stringify(r.json)}`);
    assert.match(r.retryAfter ?? '', /^\d+$/, `${name} has Retry-After`);
    assert.match(r.json.message, /Bosun's Redis is unreachable, retry in \d+ s/, name);
  }

  await g.h.redis.restart();
  const up = await eventually(ready, (r) => r.status === 200, 30_000);
  assert.equal(up.json.checks.redis.ok, true);
  assert.equal((await request('GET', '/api/builds')).status, 200);
});

test('a burst of 50 signed webhooks across a Redis outage: every acknowledged delivery is a build, every other one was refused with 503 and Retry-After', async () => {
  const deliveries = Array.from({ length: 50 }, (_, i) => ({ ref: `outage-${i}`, ...delivery(i, crypto.randomUUID()) }));
  const answers: Promise<Answer>[] = [];
  for (const [i, d] of deliveries.entries()) {
    answers.push(sendDelivery(d));
    if (i === 15) await g.h.redis.kill(); // Redis dies in the middle of the burst
    await new Promise((r) => setTimeout(r, 20));
  }
  const results = await Promise.all(answers);
  const acked = deliveries.filter((_, i) => results[i]!.status >= 200 && results[i]!.status < 300);
  const refused = deliveries.filter((_, i) => results[i]!.status === 503);
  assert.equal(acked.length + refused.length, 50, `only 2xx or 503: ${JSON.stringify(results.map((r) => r.status))}`);
  assert.ok(refused.length > 0, 'the outage refused some deliveries');
  for (const [i, r] of results.entries()) if (r.status === 503) assert.match(r.retryAfter ?? '', /^\d+$/, `delivery ${i} has Retry-After`);

  await g.h.redis.restart();
  await eventually(ready, (r) => r.status === 200, 30_000);
  for (const d of acked)
    await eventually(
      () => buildForRef(d.ref),
      (b) => b.length === 1,
      30_000,
    );

  // GitHub redelivers the refused ones (same delivery id): each becomes exactly one build.
  for (const d of refused) {
    const again = await sendDelivery(d);
    assert.equal(again.status, 202, JSON.stringify(again.json));
  }
  for (const d of deliveries)
    await eventually(
      () => buildForRef(d.ref),
      (b) => b.length === 1,
      30_000,
    );
});
