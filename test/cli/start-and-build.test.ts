import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/redis-server.js';

const run = promisify(execFile);
const bosun = join(process.cwd(), 'bin', 'bosun');

// The README's promise on a fresh clone: `bosun start` on the embedded defaults (its own
// redis-server, the local executor, the bundled demo repository), then `bosun build
// demo#master --follow` shows the log live and ends in success.
test('bosun start serves the embedded defaults and bosun build demo#master --follow succeeds', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bosun-cli-'));
  const port = await freePort();
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BOSUN_DATA_DIR: dataDir,
    BOSUN_PORT: String(port),
    BOSUN_EXECUTOR: 'local',
    BOSUN_LOG_LEVEL: 'warn',
  };
  const server = spawn(bosun, ['start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout.on('data', (d: Buffer) => (out += d.toString()));
  server.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const deadline = Date.now() + 60_000;
    while (!out.includes('Bosun is running at') && Date.now() < deadline) {
      if (server.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(out, /Bosun is running at http:\/\/127\.0\.0\.1:\d+/, out);
    assert.ok(existsSync(join(dataDir, 'redis', 'redis.sock')), 'the embedded redis-server is up');

    const { stdout } = await run(bosun, ['build', 'demo#master', '--follow'], { env, timeout: 120_000 });

    assert.match(stdout, /Queued #\d+ demo#master \([0-9a-f]{7}\)/);
    assert.match(stdout, /--- test\/unit/);
    assert.match(stdout, /\+ python3 -m unittest discover -s tests -v/);
    assert.match(stdout, /--- e2e\/smoke[\s\S]*smoke add: ok/);
    assert.match(stdout, /=== build #\d+ success/);

    const status = await run(bosun, ['status'], { env });
    assert.match(status.stdout, /#\d+ demo#master \([0-9a-f]{7}\) ✔ success/);
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
  assert.ok(!existsSync(join(dataDir, 'redis', 'redis.sock')), 'the embedded redis-server stopped with Bosun');
});
