import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { signingSecret, startSlackBed, type SlackBed } from './slack-test-bed.js';
import { leakedSecret, scenarioFailingBuild, scenarioGreenBuild } from './build-thread-scenario.js';
import { checkpointConfig, scenarioCheckpoint } from './checkpoint-scenario.js';
import { formBody, signSlack, slashCommand } from '../../fakes/fake-slack-requests.js';

let bed: SlackBed;
before(async () => {
  bed = await startSlackBed('http', { secrets: { LEAKY: leakedSecret }, ...checkpointConfig });
});
after(async () => {
  await bed?.stop();
});

test('http mode: /ci build demo#master acks at once and tells the build in one thread', async () => {
  await scenarioGreenBuild(bed);
});

test('http mode: a failing build leaves the failing lines, a link and the log file in its thread', async () => {
  await scenarioFailingBuild(bed);
});

test('http mode: checkpoint buttons refuse the requester and outsiders and accept one approver click once', async () => {
  await scenarioCheckpoint(bed, 'C3');
});

async function send(body: string, headers: Record<string, string>, path = '/slack/commands'): Promise<number> {
  const res = await fetch(`${bed.h.url}${path}`, { method: 'POST', headers, body });
  await res.text();
  return res.status;
}

async function buildCount(): Promise<number> {
  return (await bed.h.server.core.store.list({ limit: 1000 })).length;
}

const now = () => Math.floor(Date.now() / 1000);
const cases: { name: string; request(): { body: string; headers: Record<string, string> }; status: number }[] = [
  {
    name: 'a tampered body is refused',
    request() {
      const body = formBody(slashCommand('build demo#master', 'UEVE', { channel: 'C9' }));
      return { body: body.replace('UEVE', 'UADM'), headers: signSlack(signingSecret, body) };
    },
    status: 401,
  },
  { name: 'a stale timestamp (−301 s) is refused', request: () => signed(now() - 301), status: 401 },
  { name: 'a future timestamp (+301 s) is refused', request: () => signed(now() + 301), status: 401 },
  {
    name: 'a wrong secret is refused',
    request: () => {
      const body = formBody(slashCommand('build demo#master', 'UEVE', { channel: 'C9' }));
      return { body, headers: signSlack('wrong-secret', body) };
    },
    status: 401,
  },
  {
    name: 'a missing signature is refused',
    request: () => ({ body: 'command=%2Fci&text=build', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    status: 401,
  },
];

function signed(ts: number): { body: string; headers: Record<string, string> } {
  const body = formBody(slashCommand('build demo#master', 'UEVE', { channel: 'C9' }));
  return { body, headers: signSlack(signingSecret, body, ts) };
}

for (const c of cases) {
  test(`signatures: ${c.name}, and nothing runs`, async () => {
    const before = await buildCount();
    const { body, headers } = c.request();

    const status = await send(body, headers);

    assert.equal(status, c.status);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await buildCount(), before);
    assert.equal(bed.fake.channel('C9').length, 0);
  });
}

test('signatures: −299 s is accepted; a replay inside the window is ignored', async () => {
  const before = await buildCount();
  const body = formBody(slashCommand('build demo#master', 'UOLD', { channel: 'C8' }));
  const headers = signSlack(signingSecret, body, now() - 299);

  assert.equal(await send(body, headers), 200);
  await bed.fake.waitFor(() => bed.fake.channel('C8')[0], 60_000, 'root message');
  assert.equal(await send(body, headers), 200, 'a replay gets 2xx so Slack stops retrying');
  const retried = { ...headers, 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' };
  assert.equal(await send(body, retried), 200);

  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await buildCount(), before + 1, 'one build');
  assert.equal(bed.fake.channel('C8').length, 1);
});

test('a body over 1 MiB gets 413 before it is buffered', async () => {
  const body = `text=${'a'.repeat(1024 * 1024 + 10)}`;
  assert.equal(await send(body, signSlack(signingSecret, body)), 413);
});

test('the Events API url_verification challenge is answered; a malformed signed body gets 400', async () => {
  const body = JSON.stringify({ type: 'url_verification', challenge: 'abc123' });
  const res = await fetch(`${bed.h.url}/slack/events`, { method: 'POST', headers: signSlack(signingSecret, body, now(), 'application/json'), body });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { challenge: 'abc123' });
  const bad = '{not json';
  assert.equal(await send(bad, signSlack(signingSecret, bad, now(), 'application/json'), '/slack/events'), 400);
});
