import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessRunner, RunError } from '../../src/process/process-runner.js';
import { InfraError } from '../../src/errors.js';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
const opts = { env, timeoutMs: 10_000, maxBuffer: 1024 * 1024 };

test('runs a command in the helper (not this process) with the given env and cwd, and no shell', async () => {
  const runner = new ProcessRunner();
  try {
    const out = await runner.run('sh', ['-c', 'echo "$GREETING from $PPID in $(pwd)"; echo oops >&2', 'sh'], {
      ...opts,
      env: { ...env, GREETING: 'hi' },
      cwd: '/tmp',
    });
    assert.equal(out.stdout, `hi from ${runner.pid} in /tmp\n`, 'the parent of the command is the helper');
    assert.notEqual(runner.pid, process.pid);
    assert.equal(out.stderr, 'oops\n');
    const literal = await runner.run('echo', ['a;b', '$(id)', '`x`'], opts);
    assert.equal(literal.stdout, 'a;b $(id) `x`\n', 'arguments reach the command untouched');
  } finally {
    runner.close();
  }
});

test('a failing command rejects with its exit code and output; a slow one is killed at the timeout', async () => {
  const runner = new ProcessRunner();
  try {
    const err = await runner.run('sh', ['-c', 'echo partial; echo bad >&2; exit 3'], opts).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof RunError, String(err));
    assert.equal(err.code, 3);
    assert.equal(err.stdout, 'partial\n');
    assert.equal(err.stderr, 'bad\n');

    const started = Date.now();
    await assert.rejects(runner.run('sleep', ['30'], { ...opts, timeoutMs: 300 }), RunError);
    assert.ok(Date.now() - started < 5000);
    await assert.rejects(runner.run('/no/such/binary', [], opts), (e: unknown) => e instanceof RunError && e.code === 'ENOENT');
  } finally {
    runner.close();
  }
});

test('requests run concurrently; a helper that dies fails what is in flight as infrastructure, and the next request starts a new one', async () => {
  const runner = new ProcessRunner();
  try {
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 4 }, () => runner.run('sleep', ['0.5'], opts)));
    assert.ok(Date.now() - t0 < 1800, 'four half-second sleeps overlap');

    const first = runner.pid!;
    const inFlight = runner.run('sleep', ['30'], opts);
    process.kill(first, 'SIGKILL');
    await assert.rejects(inFlight, (e: unknown) => e instanceof InfraError && /process helper exited/.test((e as Error).message));

    const again = await runner.run('echo', ['back'], opts);
    assert.equal(again.stdout, 'back\n');
    assert.notEqual(runner.pid, first);
  } finally {
    runner.close();
  }
});
