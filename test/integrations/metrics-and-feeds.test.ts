import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startBosun, type RestartableBosun } from './restartable-bosun.js';
import { until } from './webhook-receiver.js';
import { readSse } from './sse-client.js';
import { parsePrometheusText, type MetricFamily } from './prometheus-parser.js';
import { testToken } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import type { StoredEvent } from '../../src/domain/build-event.js';

const githubSecret = 'github-webhook-secret-0123456789';
let bosun: RestartableBosun;
const good = 17;
const bad = 3;
let buildIds: string[] = [];

before(async () => {
  bosun = await startBosun({
    github: { webhookSecrets: [githubSecret], apiUrl: 'http://127.0.0.1:9' },
    pools: { phones: { items: [{ id: 'p1' }] } },
    limits: { killGraceSec: 2, buildsPerMinute: 1000 },
  });
  await bosun.addEchoRepo('metered', ['compile', 'unit']);
  const failing = await makeRepo(bosun.dataDir, 'metered-bad', {
    'bosun.yml':
      'version: 1\nimage: any\nstages:\n  test:\n    steps:\n      - name: compile\n        run: echo ok\n      - name: unit\n        run: exit 1\n      - name: never\n        run: echo no\n',
  });
  bosun.config.repos['metered-bad'] = { url: failing.url, defaultBranch: 'master', secrets: [] };
});
after(async () => {
  await bosun?.stop();
});

async function scrape(): Promise<{ text: string; families: Map<string, MetricFamily>; contentType: string | null }> {
  const res = await fetch(`${bosun.url()}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const families = new Map((await parsePrometheusText(text)).map((f) => [f.name, f]));
  for (const f of families.values()) {
    assert.ok(['counter', 'gauge', 'histogram'].includes(f.type), `${f.name}: ${f.type}`);
    assert.ok(f.help.length > 0, `${f.name} has help`);
  }
  return { text, families, contentType: res.headers.get('content-type') };
}

const matches = (labels: Record<string, string>, want: Record<string, string>) => Object.entries(want).every(([k, v]) => labels[k] === v);

/** A counter's or gauge's value (0 when the series does not exist yet). */
function value(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name.replace(/_total$/, '')) ?? families.get(name);
  return family?.samples.find((s) => (s.name === name || s.name === `${name}_total`) && matches(s.labels, labels))?.value ?? 0;
}

function histogram(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): { count: number; sum: number; buckets: Record<string, number> } {
  const samples = families.get(name)?.samples.filter((s) => matches(s.labels, labels)) ?? [];
  return {
    count: samples.find((s) => s.name === `${name}_count`)?.value ?? 0,
    sum: samples.find((s) => s.name === `${name}_sum`)?.value ?? 0,
    buckets: Object.fromEntries(samples.filter((s) => s.name === `${name}_bucket`).map((s) => [s.labels.le!, s.value])),
  };
}

test('/metrics scrapes cleanly and its figures match a run of 20 builds', async () => {
  const from = await bosun.server.core.bus.lastId();
  const created = await Promise.all(
    Array.from({ length: good + bad }, (_, i) => bosun.api('POST', '/api/builds', { repo: i < bad ? 'metered-bad' : 'metered', ref: 'master' })),
  );
  buildIds = created.map((r) => r.json.build.id as string);
  const done = await Promise.all(buildIds.map((id) => bosun.waitDone(id, 180_000)));
  assert.deepEqual(done.filter((b) => b.status === 'success').length, good);

  // Counted from the event stream: wait until the collector has seen the last build end.
  const { families, contentType } = await until(
    scrape,
    (s) => value(s.families, 'bosun_builds_total', { status: 'success' }) + value(s.families, 'bosun_builds_total', { status: 'failed' }) === good + bad,
    60_000,
    'the metrics to count every build',
  );
  assert.match(contentType ?? '', /^text\/plain; version=0\.0\.4/);
  assert.equal(value(families, 'bosun_builds_total', { status: 'success' }), good);
  assert.equal(value(families, 'bosun_builds_total', { status: 'failed' }), bad);
  assert.equal(value(families, 'bosun_steps_total', { status: 'success' }), good * 2 + bad);
  assert.equal(value(families, 'bosun_steps_total', { status: 'failed' }), bad);
  assert.equal(value(families, 'bosun_steps_total', { status: 'skipped' }), bad, 'the step after the failing one');

  const builds = histogram(families, 'bosun_build_duration_seconds', { status: 'success' });
  assert.equal(builds.count, good);
  const records = done.filter((b) => b.status === 'success').map((b) => (Date.parse(b.finishedAt!) - Date.parse(b.startedAt ?? b.createdAt)) / 1000);
  assert.ok(Math.abs(builds.sum - records.reduce((a, b) => a + b, 0)) < 0.01, `duration sum ${builds.sum} matches the build records`);
  assert.equal(builds.buckets['+Inf'], good);
  assert.equal(histogram(families, 'bosun_build_duration_seconds', { status: 'failed' }).count, bad);
  assert.equal(histogram(families, 'bosun_step_duration_seconds', { status: 'success' }).count, good * 2 + bad);
  assert.equal(histogram(families, 'bosun_step_duration_seconds', { status: 'failed' }).count, bad);

  const events = await bosun.server.core.bus.range(from, 100_000);
  const queued = new Set(
    events.filter((e) => e.type === 'stage.status' && e.status === 'queued').map((e) => e.type === 'stage.status' && `${e.buildId}/${e.stage}`),
  );
  const started = events.filter((e) => e.type === 'stage.status' && e.status === 'running' && queued.has(`${e.buildId}/${e.stage}`)).length;
  assert.ok(started >= good + bad, `every stage went through the queue (${started})`);
  assert.equal(histogram(families, 'bosun_stage_queue_wait_seconds').count, started);

  assert.equal(value(families, 'bosun_builds_active'), 0);
  assert.equal(value(families, 'bosun_queue_jobs', { queue: 'bosun-stage', state: 'waiting' }), 0);
  assert.equal(value(families, 'bosun_queue_jobs', { queue: 'bosun-stage', state: 'active' }), 0);
});

test('lease waits are measured from asking to the grant', async () => {
  const leases = bosun.server.core.deps.leases!;
  const alice = { id: 'cli:alice', name: 'alice' };
  const bob = { id: 'cli:bob', name: 'bob' };
  const first = await leases.acquire('phones', [], alice, 600);
  assert.equal(first.status, 'granted');
  const second = await leases.acquire('phones', [], bob, 600);
  assert.equal(second.status, 'waiting');
  await new Promise((r) => setTimeout(r, 300));
  await leases.release(first.lease.id, alice, undefined, 'done');
  const { families } = await until(
    scrape,
    (s) => histogram(s.families, 'bosun_lease_wait_seconds', { pool: 'phones' }).count === 2,
    60_000,
    'two lease grants',
  );
  const waits = histogram(families, 'bosun_lease_wait_seconds', { pool: 'phones' });
  assert.equal(waits.buckets['0'], 1, 'the first was granted at once');
  assert.ok(waits.sum >= 0.29 && waits.sum < 30, `bob waited about 0.3 s (${waits.sum})`);
});

test('GitHub webhook acks are timed by status code', async () => {
  const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
  const sign = (b: string) => `sha256=${createHmac('sha256', githubSecret).update(b).digest('hex')}`;
  const post = (signature: string) =>
    fetch(`${bosun.url()}/github/webhooks`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'ping',
        'x-github-delivery': `d-${Math.random().toString(16).slice(2)}`,
        'x-hub-signature-256': signature,
      },
    });
  assert.equal((await post(sign(body))).status, 202);
  assert.equal((await post(sign(body))).status, 202);
  assert.equal((await post(sign('tampered'))).status, 401);
  const { families } = await scrape();
  assert.equal(histogram(families, 'bosun_github_webhook_ack_seconds', { code: '202' }).count, 2);
  assert.equal(histogram(families, 'bosun_github_webhook_ack_seconds', { code: '401' }).count, 1);
});

test('GET /api/events needs the token, streams every build and lease, and resumes after Last-Event-ID with no gap and no repeat', async () => {
  const url = `${bosun.url()}/api/events`;
  assert.equal((await readSse(url, {}, () => true, 5000)).status, 401);
  assert.equal((await readSse(`${url}?types=nope.*`, { authorization: `Bearer ${testToken}` }, () => true, 5000)).status, 400);

  // From an old position: the 20 builds' events are replayed, then the connection drops mid-way.
  const all = (await bosun.server.core.bus.range('-', 100_000)).filter((e) => e.type !== 'log.chunk');
  const start = all[0]!.id;
  const auth = { authorization: `Bearer ${testToken}` };
  const firstPart = await readSse(
    `${url}?after=${start}&types=build.*,stage.*,step.*,lease.*,checkpoint.*,webhook.*,push.*`,
    auth,
    (ev) => ev.length >= 40,
    20_000,
  );
  assert.equal(firstPart.events.length >= 40, true);
  const lastSeen = firstPart.events.at(-1)!.id!;
  const secondPart = await readSse(
    `${url}?types=build.*,stage.*,step.*,lease.*,checkpoint.*,webhook.*,push.*`,
    { ...auth, 'last-event-id': lastSeen },
    (ev) => ev.at(-1)?.id === all.at(-1)!.id,
    20_000,
  );
  const seen = [...firstPart.events, ...secondPart.events].map((e) => e.id);
  assert.deepEqual(
    seen,
    all.slice(1).map((e) => e.id),
    'every event after the start, once, in order',
  );
  const parsed = JSON.parse(secondPart.events.at(-1)!.data) as StoredEvent;
  assert.equal(parsed.id, all.at(-1)!.id);
  assert.equal(secondPart.events.at(-1)!.event, parsed.type);
  assert.ok(seen.length > 0 && all.some((e) => e.type.startsWith('lease.')), 'lease events are in the feed');

  // Live: a new build's events arrive while connected.
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  const live = readSse(`${url}?types=build.status`, auth, (ev) => ev.some((e) => JSON.parse(e.data).status === 'success'), 60_000, opened);
  await Promise.race([open, live]); // connected (or already failed: the asserts below say how)
  const res = await bosun.api('POST', '/api/builds', { repo: 'metered', ref: 'master' });
  const got = await live;
  assert.ok(got.events.every((e) => e.event === 'build.status' && JSON.parse(e.data).buildId === res.json.build.id));
  assert.ok(got.events.some((e) => JSON.parse(e.data).status === 'success'));
});

test('badges show the latest build of a branch, escaped, with cache headers', async () => {
  // Badges are for public repositories (README viewers are signed out); a private one looks unknown.
  assert.equal((await fetch(`${bosun.url()}/badge/metered/master.svg`)).status, 404);
  bosun.config.repos.metered!.public = true;
  bosun.config.repos['metered-bad']!.public = true;
  const res = await fetch(`${bosun.url()}/badge/metered/master.svg`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^image\/svg\+xml/);
  assert.equal(res.headers.get('cache-control'), 'no-cache, max-age=0');
  const svg = await res.text();
  assert.match(svg, /<svg [^>]*aria-label="build: passing"/);
  const etag = res.headers.get('etag')!;
  assert.equal((await fetch(`${bosun.url()}/badge/metered/master.svg`, { headers: { 'if-none-match': etag } })).status, 304);
  assert.match(await (await fetch(`${bosun.url()}/badge/metered-bad/master.svg`)).text(), /build: failing/);
  assert.match(await (await fetch(`${bosun.url()}/badge/metered/no-such-branch.svg`)).text(), /build: no builds/);
  const unknown = await fetch(`${bosun.url()}/badge/${encodeURIComponent('<script>')}/master.svg`);
  assert.equal(unknown.status, 404);
  assert.doesNotMatch(await unknown.text(), /<script>/);
});

test('GET /api/audit gives the audit trail to token holders only', async () => {
  assert.equal((await bosun.api('GET', '/api/audit', undefined, null)).status, 401);
  const res = await bosun.api('GET', '/api/audit?limit=1000');
  assert.equal(res.status, 200);
  assert.ok(
    res.json.entries.some((e: any) => e.action === 'build.create' && e.actorId === 'api:tester'),
    JSON.stringify(res.json.entries.slice(0, 3)),
  );
  assert.ok(res.json.entries.some((e: any) => e.action.startsWith('lease.')));
});

test('GET /api/events says so when the stream was trimmed past the Last-Event-ID', async () => {
  const core = bosun.server.core;
  const oldest = (await core.bus.range('-', 1))[0]!.id;
  await core.redis.xtrim(`${core.prefix}:events`, 'MAXLEN', 5);
  const first = (await core.bus.range('-', 1))[0]!.id;
  const res = await readSse(`${bosun.url()}/api/events`, { authorization: `Bearer ${testToken}`, 'last-event-id': oldest }, (ev) => ev.length >= 2, 10_000);
  assert.equal(res.events[0]!.event, 'events.gap');
  assert.deepEqual(JSON.parse(res.events[0]!.data), { after: oldest, resumesAt: first });
  assert.equal(res.events[1]!.id, first);
});
