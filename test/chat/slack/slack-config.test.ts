import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config.js';
import { RateLimiter } from '../../../src/chat/slack/rate-limiter.js';

test('config: SLACK_* env turns the Slack front end on in Socket Mode by default', () => {
  const config = loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', SLACK_API_URL: 'http://127.0.0.1:1/api/' }, { dataDir: '/tmp/bosun-cfg' });
  assert.equal(config.slack?.mode, 'socket');
  assert.equal(config.slack?.appToken, 'xapp-1');
  assert.equal(config.slack?.command, '/ci');
  assert.equal(config.slack?.timestampWindowSec, 300);
});

test('config: no SLACK_BOT_TOKEN and no slack section means Slack is off', () => {
  assert.equal(loadConfig({}, { dataDir: '/tmp/bosun-cfg' }).slack, undefined);
});

test('config: each mode names the credential it lacks', () => {
  assert.throws(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1' }, { dataDir: '/tmp/bosun-cfg' }), /slack\.appToken: Socket Mode needs an app-level token/);
  assert.throws(
    () => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_MODE: 'http' }, { dataDir: '/tmp/bosun-cfg' }),
    /slack\.signingSecret: HTTP mode needs a signing secret/,
  );
});

test('config: per-channel notification settings are validated', () => {
  const config = loadConfig(
    {},
    { dataDir: '/tmp/bosun-cfg', slack: { botToken: 'x', appToken: 'y', channels: { C1: { notify: ['failures', 'approvals'] } } } },
  );
  assert.deepEqual(config.slack?.channels.C1?.notify, ['failures', 'approvals']);
  assert.throws(
    () => loadConfig({}, { dataDir: '/tmp/bosun-cfg', slack: { botToken: 'x', appToken: 'y', channels: { C1: { notify: ['everything'] } } } } as never),
    /slack\.channels\.C1\.notify/,
  );
});

test('rate limiter: spaces calls across all callers', async () => {
  const limiter = new RateLimiter(600);
  const started = Date.now();

  await Promise.all([limiter.take(), limiter.take(), limiter.take(), limiter.take()]);

  assert.ok(Date.now() - started >= 290, `${Date.now() - started} ms for 4 takes at 10/s`);
});
