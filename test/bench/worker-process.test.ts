import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { treeCpuSec } from '../../bench/worker-process.js';

/** A node child that burns `ms` of its own CPU time (not wall time, so load does not matter), then waits for stdin to close. */
function burner(ms: number) {
  const code = `const t0 = process.cpuUsage(); while ((process.cpuUsage(t0).user + process.cpuUsage(t0).system) / 1000 < ${ms}) {} process.stdout.write('done\\n'); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
  return spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
}

describe('the CPU of a process tree, from /proc', () => {
  it('counts a live child process in descendants, and keeps counting it once it has ended', async (t) => {
    const before = treeCpuSec(process.pid);
    const child = burner(300);
    t.after(() => child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the child did not burn its CPU within 60 s')), 60_000);
      child.stdout.on('data', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const live = treeCpuSec(process.pid);
    assert.ok(live.descendants - before.descendants >= 0.25, `live child counted: ${live.descendants - before.descendants} s`);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin.end();
    await exited;
    const after = treeCpuSec(process.pid);
    assert.ok(after.descendants - before.descendants >= 0.25, `ended child still counted: ${after.descendants - before.descendants} s`);
    assert.ok(after.self >= before.self);
  });
});
