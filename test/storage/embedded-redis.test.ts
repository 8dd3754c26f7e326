import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { silentLogger } from '../../src/logger.js';
import { startEmbeddedRedis } from '../../src/storage/embedded-redis.js';
import { identityOf } from '../../src/storage/process-identity.js';
import { alive, redisPidOn } from '../support/redis-probe.js';

async function until<T>(fn: () => T | Promise<T>, pred: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (pred(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A redis-server on `<dataDir>/redis/redis.sock`, as an earlier Bosun would have left it. */
async function plantServer(dataDir: string): Promise<ChildProcess> {
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'redis.sock');
  const child = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--unixsocket',
      socket,
      '--unixsocketperm',
      '700',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--maxmemory-policy',
      'noeviction',
      '--save',
      '',
      '--daemonize',
      'no',
    ],
    { stdio: 'ignore' },
  );
  await until(
    () => redisPidOn(socket),
    (pid) => pid === child.pid,
    60_000,
  );
  return child;
}

async function exitedProcessPid(): Promise<number> {
  const p = spawn('true');
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}

const cases: { name: string; owner: () => Promise<{ pid: number; start: string | null } | null>; adopted: boolean }[] = [
  {
    name: 'left by a killed Bosun (its recorded owner is gone): stopped, and a fresh one started and owned',
    owner: async () => ({ pid: await exitedProcessPid(), start: '1' }),
    adopted: false,
  },
  { name: 'with no owner record (an earlier Bosun): stopped, and a fresh one started and owned', owner: async () => null, adopted: false },
  { name: 'owned by another live Bosun process (a worker beside `bosun start`): used as a guest, not stopped', owner: async () => null, adopted: true },
];

for (const c of cases) {
  test(`a redis-server already answering on the embedded socket, ${c.name}`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'bosun-embedded-'));
    const planted = await plantServer(dataDir);
    const liveOwner = c.adopted ? spawn('sleep', ['60'], { stdio: 'ignore' }) : null;
    const owner = liveOwner ? identityOf(liveOwner.pid!) : await c.owner();
    const socketPath = join(dataDir, 'redis', 'redis.sock');
    if (owner) writeFileSync(join(dataDir, 'redis', 'owner.json'), JSON.stringify({ redis: identityOf(planted.pid!), owner, socketPath }));
    const embedded = await startEmbeddedRedis(dataDir, silentLogger());
    try {
      const pid = await redisPidOn(socketPath);
      if (c.adopted) {
        assert.equal(embedded.owned, false);
        assert.equal(pid, planted.pid, "the live owner's server is used");
        await embedded.stop();
        assert.ok(alive(planted.pid!), "a guest does not stop the owner's server");
        return;
      }
      await until(
        () => planted.exitCode !== null || planted.signalCode !== null,
        (gone) => gone,
        60_000,
      ).catch(() => assert.fail('the orphan still runs'));
      assert.equal(embedded.owned, true);
      assert.ok(pid !== null && pid !== planted.pid, 'a fresh server answers');
      const record = JSON.parse(readFileSync(join(dataDir, 'redis', 'owner.json'), 'utf8'));
      assert.equal(record.owner.pid, process.pid);
      assert.equal(record.redis.pid, pid);
      await embedded.stop();
      assert.equal(await redisPidOn(socketPath), null, 'stopped with its owner');
    } finally {
      liveOwner?.kill('SIGKILL');
      planted.kill('SIGKILL');
      await embedded.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
}

test('an embedded redis-server that dies is restarted with backoff on the same data, and the event is logged', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bosun-embedded-'));
  const lines: string[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  );
  const embedded = await startEmbeddedRedis(dataDir, log);
  const c = new Redis({ path: embedded.socketPath, maxRetriesPerRequest: null });
  c.on('error', () => undefined);
  try {
    await c.set('kept', 'across the crash');
    const first = (await redisPidOn(embedded.socketPath))!;
    process.kill(first, 'SIGKILL');
    const second = await until(
      () => redisPidOn(embedded.socketPath),
      (pid) => pid !== null && pid !== first,
    ).catch(() => assert.fail('no new redis-server answers'));
    assert.ok(!alive(first));
    assert.equal(await c.get('kept'), 'across the crash', 'the AOF was replayed');
    assert.ok(
      lines.some((l) => l.includes('Embedded Redis exited unexpectedly')),
      lines.join(''),
    );
    await until(
      () => lines.some((l) => l.includes('Embedded Redis restarted')),
      (v) => v,
    );
    const record = JSON.parse(readFileSync(join(dataDir, 'redis', 'owner.json'), 'utf8'));
    assert.equal(record.redis.pid, second, 'the owner record names the new server');
  } finally {
    c.disconnect();
    await embedded.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
