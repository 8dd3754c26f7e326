import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { silentLogger } from '../../src/logger.js';
import type { Build } from '../../src/domain/build.js';
import type { StoredEvent } from '../../src/domain/build-event.js';
import type { SlackApi } from '../../src/chat/slack/slack-api.js';
import { ThreadReporter } from '../../src/chat/slack/thread-reporter.js';
import { ThreadStore } from '../../src/chat/slack/thread-store.js';
import { LiveLog } from '../../src/chat/slack/live-log.js';
import { RateLimiter } from '../../src/chat/slack/rate-limiter.js';

// When a deploy of a build's image ends, the build's Slack thread says so, once, escaped.
let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

test('a finished deploy is one reply in the thread of the build that published the image', async () => {
  const posts: Record<string, unknown>[] = [];
  let n = 0;
  const api: SlackApi = {
    chat: {
      postMessage: async (args) => (posts.push(args), { ts: `1.${++n}`, channel: args.channel }),
      update: async () => undefined,
      postEphemeral: async () => undefined,
    },
    conversations: { open: async () => ({ channel: { id: 'D1' } }) },
    filesUploadV2: async () => undefined,
  };
  const build: Build = {
    id: '41',
    repo: 'acme/api',
    ref: 'master',
    sha: 'a'.repeat(40),
    status: 'success',
    attempt: 1,
    version: 3,
    createdAt: '2026-01-01T00:00:00Z',
    trigger: { event: 'push', source: 'slack', actor: { id: 'slack:T1/UDEV', name: 'dev' }, chat: { platform: 'slack', channel: 'C1' } },
    stages: [],
  };
  const store = new ThreadStore(redis.client(), 'deploynotice');
  const logs = { tail: async () => [], read: async () => [] };
  const reporter = new ThreadReporter({
    api,
    store,
    logs,
    builds: { get: async () => build },
    config: { channels: {}, dmRequester: 'never' },
    buildUrl: () => undefined,
    log: silentLogger(),
    liveLog: new LiveLog({ api, store, logs, limiter: new RateLimiter(6000), intervalMs: 10, log: silentLogger() }),
  });
  await store.setRoot('41', { channel: 'C1', ts: '1.0' });
  const ev = (state: string, text: string) =>
    ({
      id: '1-1',
      at: '2026-01-01T00:00:00Z',
      type: 'deploy.status',
      deployId: '7',
      environment: 'staging',
      repo: 'acme/api',
      buildId: '41',
      sha: build.sha,
      ref: 'r@sha256:x',
      state,
      actor: build.trigger.actor,
      text,
    }) as StoredEvent;

  await reporter.handle(ev('running', 'Deploy #7: staging is being updated'));
  await reporter.handle(ev('succeeded', 'Deploy #7: staging now runs acme/api@aaaaaaa <!channel>.'));
  await reporter.handle(ev('succeeded', 'Deploy #7: staging now runs acme/api@aaaaaaa <!channel>.')); // redelivered

  assert.deepEqual(posts, [{ channel: 'C1', thread_ts: '1.0', text: 'Deploy #7: staging now runs acme/api@aaaaaaa &lt;!channel&gt;.' }]);
});
