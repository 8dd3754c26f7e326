import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    assert.ok(Date.now() - started < 20_000, 'killed long before the 30 s sleep would end');
    await assert.rejects(runner.run('/no/such/binary', [], opts), (e: unknown) => e instanceof RunError && e.code === 'ENOENT');
  } finally {
    runner.close();
  }
});

test('requests run concurrently; a helper that dies fails what is in flight as infrastructure, and the next request starts a new one', async () => {
  const runner = new ProcessRunner();
  try {
    // A barrier, not a stopwatch: each command marks itself started, then waits until all four
    // have. Run one after another, the first would wait alone until its timeout.
    const barrier = await mkdtemp(join(tmpdir(), 'runner-barrier-'));
    try {
      const meet = (i: number) => `touch ${barrier}/${i}; while [ "$(ls ${barrier} | wc -l)" -lt 4 ]; do sleep 0.05; done; echo met`;
      const all = await Promise.all(Array.from({ length: 4 }, (_, i) => runner.run('sh', ['-c', meet(i)], { ...opts, timeoutMs: 60_000 })));
      assert.deepEqual(
        all.map((r) => r.stdout),
        Array(4).fill('met\n'),
        'four commands were running at once',
      );
    } finally {
      await rm(barrier, { recursive: true, force: true });
    }

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

test('input goes to the command on stdin, which is then closed; a command that does not read it still reports its exit', async () => {
  const runner = new ProcessRunner();
  try {
    const batch = '*filter\n-A X -j RETURN\nCOMMIT\n';
    assert.equal((await runner.run('cat', [], { ...opts, input: batch })).stdout, batch, 'cat echoes stdin and ends: stdin was closed');
    const big = 'x'.repeat(1024 * 1024);
    assert.equal((await runner.run('wc', ['-c'], { ...opts, input: big })).stdout.trim(), String(big.length));
    await assert.rejects(runner.run('sh', ['-c', 'exit 4'], { ...opts, input: big }), (e: unknown) => e instanceof RunError && e.code === 4);
  } finally {
    runner.close();
  }
});
