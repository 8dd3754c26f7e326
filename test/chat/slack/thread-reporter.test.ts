import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../../support/redis-server.js';
import { silentLogger } from '../../../src/logger.js';
import type { Build } from '../../../src/domain/build.js';
import type { StoredEvent } from '../../../src/domain/build-event.js';
import type { SlackApi } from '../../../src/chat/slack/slack-api.js';
import { redactingSlackApi } from '../../../src/chat/slack/slack-api.js';
import { ThreadReporter } from '../../../src/chat/slack/thread-reporter.js';
import { ThreadStore } from '../../../src/chat/slack/thread-store.js';
import { LiveLog } from '../../../src/chat/slack/live-log.js';
import { RateLimiter } from '../../../src/chat/slack/rate-limiter.js';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

/** A SlackApi that records calls in memory: what the reporter asked Slack to do. */
function recordingApi(): SlackApi & { calls: { method: string; args: Record<string, unknown> }[] } {
  const calls: { method: string; args: Record<string, unknown> }[] = [];
  let n = 0;
  return {
    calls,
    chat: {
      postMessage: async (args) => (calls.push({ method: 'postMessage', args }), { ts: `1.${++n}`, channel: args.channel }),
      update: async (args) => calls.push({ method: 'update', args }),
      postEphemeral: async (args) => calls.push({ method: 'postEphemeral', args }),
    },
    conversations: { open: async (args) => (calls.push({ method: 'open', args }), { channel: { id: `D${args.users}` } }) },
    filesUploadV2: async (args) => calls.push({ method: 'filesUploadV2', args }),
  };
}

const build: Build = {
  id: '41',
  repo: 'demo',
  ref: 'master',
  sha: 'a'.repeat(40),
  status: 'running',
  attempt: 1,
  version: 3,
  createdAt: '2026-01-01T00:00:00Z',
  trigger: { event: 'manual', source: 'slack', actor: { id: 'slack:T1/UDEV', name: 'dev' }, chat: { platform: 'slack', channel: 'C1' } },
  stages: [],
};

function reporter(api: SlackApi, prefix: string): ThreadReporter {
  const client = redis.client();
  const store = new ThreadStore(client, prefix);
  const logs = { tail: async () => [], read: async () => [] };
  const liveLog = new LiveLog({ api, store, logs, limiter: new RateLimiter(6000), intervalMs: 10, log: silentLogger() });
  return new ThreadReporter({
    api,
    store,
    liveLog,
    logs,
    builds: { get: async () => build },
    config: { channels: {}, dmRequester: 'never' },
    buildUrl: () => undefined,
    log: silentLogger(),
  });
}

const ev = (e: Record<string, unknown>) => ({ id: '1-1', at: '2026-01-01T00:00:00Z', buildId: '41', ...e }) as StoredEvent;

test('a redelivered build.created posts one root; after a restart the same root is updated in place', async () => {
  const api = recordingApi();
  const first = reporter(api, 'restart');

  await first.handle(ev({ type: 'build.created', repo: 'demo', ref: 'master', sha: build.sha, actor: build.trigger.actor, source: 'slack' }));
  await first.handle(ev({ type: 'build.created', repo: 'demo', ref: 'master', sha: build.sha, actor: build.trigger.actor, source: 'slack' }));
  const second = reporter(api, 'restart');
  build.status = 'success';
  try {
    await second.handle(ev({ type: 'build.status', status: 'success', previous: 'running' }));
  } finally {
    build.status = 'running';
  }

  const roots = api.calls.filter((c) => c.method === 'postMessage' && !c.args.thread_ts);
  assert.equal(roots.length, 1);
  const updates = api.calls.filter((c) => c.method === 'update');
  assert.equal(updates.length, 1);
  assert.equal(updates[0]!.args.ts, '1.1');
});

test('builds not started from Slack are ignored when no default channel is configured', async () => {
  const api = recordingApi();
  const r = reporter(api, 'other');
  build.trigger = { event: 'push', source: 'github', actor: { id: 'github:1', name: 'octo' } };

  await r.handle(ev({ type: 'build.created', repo: 'demo', ref: 'master', sha: build.sha, actor: build.trigger.actor, source: 'github' }));

  assert.equal(api.calls.length, 0);
});

test('the redacting client strips secrets from text, blocks and files (R13)', async () => {
  const api = recordingApi();
  const redact = (t: string) => t.replaceAll('s3cr3t-value', '[REDACTED]');
  const client = redactingSlackApi(api, redact);

  await client.chat.postMessage({ channel: 'C1', text: 'x s3cr3t-value', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 's3cr3t-value' } }] });
  await client.chat.update({ channel: 'C1', ts: '1', text: 's3cr3t-value' });
  await client.filesUploadV2({ channel_id: 'C1', thread_ts: '1', filename: 'f', content: 'line s3cr3t-value' });

  assert.ok(!JSON.stringify(api.calls).includes('s3cr3t-value'));
});
