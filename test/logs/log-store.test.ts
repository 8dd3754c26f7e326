import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogStore } from '../../src/logs/log-store.js';
import { startRedis, type TestRedis } from '../support/redis-server.js';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

test('finish archives every line, ends the stream once (twice is harmless) and sets its expiry', async () => {
  const r = redis.client();
  const logs = new LogStore(r, mkdtempSync(join(tmpdir(), 'bosun-logs-')), 'lt1', 3600);
  await logs.append('1', 'test', 'unit', 1, ['one', 'two']);
  await logs.append('1', 'test', 'unit', 3, ['three']);

  await logs.finish('1', 'test', 'unit');
  await logs.finish('1', 'test', 'unit');

  assert.equal(readFileSync(logs.archivePath('1', 'test', 'unit'), 'utf8'), 'one\ntwo\nthree\n');
  const entries = await r.xrange('lt1:log:1:test:unit', '-', '+');
  assert.deepEqual(
    entries.map(([, f]) => f[0]),
    ['n', 'n', 'end'],
    'one end marker, last',
  );
  const ttl = await r.ttl('lt1:log:1:test:unit');
  assert.ok(ttl > 3000 && ttl <= 3600, `expiry set (${ttl})`);
  assert.deepEqual(
    (await logs.read('1', 'test', 'unit')).map((l) => [l.n, l.text]),
    [
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ],
  );
});

test('a follower sees the lines and stops at the end marker; an empty log archives as an empty file', async () => {
  const r = redis.client();
  const logs = new LogStore(r, mkdtempSync(join(tmpdir(), 'bosun-logs-')), 'lt2');
  await logs.append('2', 'test', 'unit', 1, ['a', 'b']);
  const seen: string[] = [];
  const following = (async () => {
    for await (const line of logs.follow('2', 'test', 'unit', new AbortController().signal)) seen.push(line.text);
  })();

  await logs.finish('2', 'test', 'unit');
  await following;
  await logs.finish('2', 'test', 'empty');

  assert.deepEqual(seen, ['a', 'b']);
  assert.equal(readFileSync(logs.archivePath('2', 'test', 'empty'), 'utf8'), '');
});

test("a service's log (pseudo-step `service:<name>`) archives apart from a step named alike, and reads back from the archive", async () => {
  const r = redis.client();
  const logs = new LogStore(r, mkdtempSync(join(tmpdir(), 'bosun-logs-')), 'lt3', 3600);
  await logs.append('5', 'test', 'service:cache', 1, ['Ready to accept connections']);
  await logs.append('5', 'test', 'service_cache', 1, ['a step']);
  await logs.finish('5', 'test', 'service:cache');
  await logs.finish('5', 'test', 'service_cache');

  assert.notEqual(logs.archivePath('5', 'test', 'service:cache'), logs.archivePath('5', 'test', 'service_cache'));
  assert.equal(readFileSync(logs.archivePath('5', 'test', 'service:cache'), 'utf8'), 'Ready to accept connections\n');
  await r.del('lt3:log:5:test:service:cache');
  assert.deepEqual(
    (await logs.read('5', 'test', 'service:cache')).map((l) => l.text),
    ['Ready to accept connections'],
  );
});
