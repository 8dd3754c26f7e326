import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { labelKeys, type StepOutcome } from '../../src/executor/executor.js';
import type { Sandbox } from '../../src/executor/container/sandbox-pool.js';
import { SandboxStep } from '../../src/executor/container/sandbox-step.js';
import { toSandboxSpec } from '../../src/executor/docker/to-sandbox-spec.js';
import { collect, runId, type Collected } from './contract-support.js';
import { baseImage, busyboxImage, engineForTests, testInstanceId } from './docker-harness.js';

const docker = await engineForTests(false);

/**
 * `SandboxStep` on a real sandbox container (no network), its engine calls counted: a normal
 * step is one exec (its cleaning folded in, the report taken out of its stderr); a step that
 * kills the wrapper falls back to the cleaning exec of its own.
 */
if (docker) {
  const engine = docker;
  for (const image of [busyboxImage, baseImage]) {
    const tag = image.includes('busybox') ? 'bb' : 'deb';
    describe(`a step exec'd in a sandbox (${image})`, { concurrency: 1, timeout: 300_000 }, () => {
      let container: Docker.Container;
      const volumeName = `bosun-${testInstanceId}-fold-${tag}`.toLowerCase();
      let execs: string[][] = [];
      const released: boolean[] = [];
      let sandbox: Sandbox;

      before(async () => {
        const labels = { [labelKeys.instance]: testInstanceId };
        await engine.createVolume({ Name: volumeName, Labels: labels });
        const spec = toSandboxSpec({
          name: `bosun-${testInstanceId}-fold-${tag}`.toLowerCase(),
          imageId: image,
          networkName: 'none',
          volumeName,
          labels,
          limits: { cpus: 1, memoryBytes: 256 * 2 ** 20, pids: 128 },
          secretsMib: 1,
        });
        container = await engine.createContainer(spec);
        await container.start();
        const counted = new Proxy(container, {
          get(target, prop, receiver) {
            if (prop === 'exec')
              return (opts: Docker.ExecCreateOptions) => {
                execs.push(opts.Cmd ?? []);
                return target.exec(opts);
              };
            const value = Reflect.get(target, prop, receiver) as unknown;
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        });
        sandbox = { id: container.id, container: counted, key: 'k', buildId: runId, stage: 'test', where: 'test', oomKills: undefined, remove: async () => {} };
      });

      after(async () => {
        await container?.remove({ force: true }).catch(() => undefined);
        await engine
          .getVolume(volumeName)
          .remove()
          .catch(() => undefined);
      });

      const run = async (commands: string[], stdin?: Buffer, timeoutSec = 60): Promise<{ outcome: StepOutcome; out: Collected; execs: number }> => {
        execs = [];
        const step = await SandboxStep.start(
          sandbox,
          { script: commands.join('\n'), env: ['HOME=/home/bosun'], workdir: '/workspace', ...(stdin ? { stdin } : {}) },
          { timeoutSec, timeoutGraceMs: 20_000, release: async (_sb, healthy) => void released.push(healthy) },
        );
        const [outcome, out] = await Promise.all([step.wait(), collect(step.output)]);
        await step.destroy();
        return { outcome, out, execs: execs.length };
      };

      it('a normal step is one exec; its report is not in its output, which is byte for byte what it printed', async () => {
        const r = await run(['echo out', 'printf "err no newline" >&2', 'touch /tmp/left "$HOME/.left"']);
        assert.deepEqual(r.outcome, { exitCode: 0 });
        assert.equal(r.out.stdout, 'out\n');
        assert.equal(r.out.stderr, 'err no newline');
        assert.equal(r.execs, 1, 'the cleaning is folded into the step exec');
        assert.equal(released.at(-1), true, 'the sandbox was cleaned and given back');
        const next = await run(['ls -A /tmp', 'ls -A "$HOME"']);
        assert.equal(next.out.stdout, '', '/tmp and HOME are empty');
      });

      it("a line that looks like the report (another nonce, none) stays in the output; a step's exit code and stdin are its own", async () => {
        const fake = 'bosun-step-report-00000000000000000000000000000000:0 0 0';
        const r = await run([`echo '${fake}' >&2`, `printf 'bosun-step-report-' >&2`, 'read -r line', 'echo "got $line"', 'exit 7'], Buffer.from('in\n'));
        assert.deepEqual(r.outcome, { exitCode: 7 });
        assert.equal(r.out.stderr, `${fake}\nbosun-step-report-`);
        assert.equal(r.out.stdout, 'got in\n');
        assert.equal(r.execs, 1);
      });

      it('a step that sends TERM to every process of the step user at its end keeps its exit code, in one exec; the next step runs clean', async () => {
        const r = await run(['sleep 300 >/dev/null 2>&1 &', 'echo x > /tmp/t', 'kill -TERM -1', 'echo after', 'exit 5']);
        assert.deepEqual(r.outcome, { exitCode: 5 });
        assert.equal(r.out.stdout, 'after\n');
        assert.equal(r.out.stderr, '', 'no "Terminated" notice of the wrapper');
        assert.equal(r.execs, 1);
        const next = await run(['ls -A /tmp']);
        assert.deepEqual(next.outcome, { exitCode: 0 });
        assert.equal(next.out.stdout, '', '/tmp is empty');
      });

      it('a step that SIGKILLs every process of the step user (the wrapper too) falls back to the cleaning exec; the next step sees an empty /tmp', async () => {
        const r = await run(['echo x > /tmp/t', 'sleep 300 >/dev/null 2>&1 &', 'kill -KILL -1', 'sleep 5']);
        assert.equal(r.outcome.exitCode, 137);
        assert.equal(r.execs, 2, 'the step, then the cleaning');
        assert.equal(released.at(-1), true);
        const next = await run(['ls -A /tmp']);
        assert.deepEqual(next.outcome, { exitCode: 0 });
        assert.equal(next.out.stdout, '');
        assert.equal(next.execs, 1);
      });

      it('the step gets the default dispositions of TERM, HUP and INT (the wrapper catches them, it does not ignore them)', async () => {
        const r = await run(['grep SigIgn /proc/$$/status']);
        const mask = BigInt(`0x${/SigIgn:\s*([0-9a-f]+)/.exec(r.out.stdout)?.[1] ?? 'x'}`);
        for (const signal of [1, 2, 15]) assert.equal((mask >> BigInt(signal - 1)) & 1n, 0n, `signal ${signal} is not ignored in the step`);
      });

      it('a step stopped by its timeout ends on the SIGTERM (143, not the SIGKILL after the grace), reason timeout', async () => {
        const r = await run(['sleep 300'], undefined, 1);
        assert.deepEqual(r.outcome, { exitCode: 143, reason: 'timeout' });
        const next = await run(['echo next']);
        assert.deepEqual(next.outcome, { exitCode: 0 });
      });

      it('a step killed by a signal ends with 128+n and no notice of the wrapper in its output', async () => {
        const r = await run(['echo before >&2', 'kill -KILL $$']);
        assert.deepEqual(r.outcome, { exitCode: 137 });
        assert.equal(r.out.stderr, 'before\n');
        assert.equal(r.execs, 1);
      });

      it('a step that leaves a process holding its output open ends, in one exec', async () => {
        const r = await run(['(sleep 300; echo late) &', 'echo done']);
        assert.deepEqual(r.outcome, { exitCode: 0 });
        assert.equal(r.out.stdout, 'done\n');
        assert.equal(r.execs, 1);
      });

      it('a directory the cleaning cannot empty makes the sandbox unhealthy (replaced)', async () => {
        const r = await run(['mkdir /tmp/d', 'touch /tmp/d/f', 'chmod 500 /tmp/d']);
        assert.deepEqual(r.outcome, { exitCode: 0 });
        assert.equal(r.execs, 1);
        assert.equal(released.at(-1), false);
        await run(['chmod 700 /tmp/d']);
        const next = await run(['ls -A /tmp']);
        assert.equal(next.out.stdout, '');
        assert.equal(released.at(-1), true);
      });
    });
  }
}
