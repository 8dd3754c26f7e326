import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { labelKeys, type StepSecret, type StepSpec } from '../../src/executor/executor.js';
import { collect, makeSpec, makeWorkspace, runId, runStep, waitFor, type ContractHarness } from './contract-support.js';

/** What the multi-step suite needs beyond the contract harness. */
export interface StageHarness extends ContractHarness {
  /** Whether a stage's steps share one sandbox (`sandbox: stage`). */
  sharesSandbox: boolean;
  /** The stage sandboxes left for this build (names); [] where there are none. */
  sandboxes(buildId: string): Promise<string[]>;
}

const caseOptions = { timeout: 120_000 };

/**
 * Several steps of one stage, in order, as the pipeline runs them (docs/sandbox.md): whatever
 * the executor shares between them (a stage sandbox), each step sees only its own env, secrets,
 * /tmp and HOME, and nothing it left running; the workspace carries over; a step stopped by its
 * timeout or a cancel, or killed for memory, does not keep the next one from running.
 */
export function runStageContract(name: string, makeExecutor: () => Promise<StageHarness>): void {
  describe(`executor stage (several steps): ${name}`, { concurrency: 2, timeout: 400_000 }, () => {
    let h: StageHarness;
    let workspace: string;
    const builds: string[] = [];
    /** Each case is its own build (a stage of its own), as in the pipeline. */
    const stageOf = (tag: string) => {
      // Short: resource names keep 24 characters of a build id.
      const buildId = `s${runId}${name.length}${tag}`;
      builds.push(buildId);
      return (over: Partial<StepSpec> = {}): StepSpec =>
        makeSpec(
          { workspace, image: h.image, buildId },
          { labels: { [labelKeys.build]: buildId, [labelKeys.stage]: 'test', [labelKeys.step]: over.step ?? 'x' }, ...over },
        );
    };

    before(async () => {
      workspace = makeWorkspace();
      h = await makeExecutor();
    });

    after(async () => {
      for (const buildId of builds) await h?.executor.cleanupBuild(buildId);
      await h?.close();
    });

    it("a step's env, /tmp, HOME and leftover processes do not reach the next step; the workspace and each workdir do", caseOptions, async () => {
      const spec = stageOf('iso');
      const first = await runStep(
        h.executor,
        spec({
          env: { ONLY_FIRST: 'one' },
          commands: [
            'export LEAK=1',
            // Containers only: a local step's /tmp and HOME are the host's.
            ...(h.enforcesMemory ? ['echo first > /tmp/t1', 'echo first > "$HOME/h1"'] : []),
            'echo ws > stage-ws.txt',
            'sleep 4242 >/dev/null 2>&1 &',
            'echo $! > bgpid.txt',
            'echo "host=$(hostname)"',
          ],
        }),
      );
      const second = await runStep(
        h.executor,
        spec({
          workdir: 'sub',
          commands: [
            'pwd',
            'echo "[${ONLY_FIRST:-unset}] [${LEAK:-unset}]"',
            ...(h.enforcesMemory ? ['ls /tmp/t1 "$HOME/h1" 2>/dev/null || echo no-leftovers'] : []),
            'cat ../stage-ws.txt',
            // Exactly its command line: a new container may give the same PID to a process of this step.
            'p=$(cat ../bgpid.txt); if [ "$(tr "\\0" " " < /proc/$p/cmdline 2>/dev/null)" = "sleep 4242 " ]; then echo bg-alive; else echo bg-gone; fi',
            'echo "host=$(hostname)"',
          ],
        }),
      );

      assert.equal(first.outcome.exitCode, 0, first.out.stderr);
      assert.equal(second.outcome.exitCode, 0, second.out.stderr);
      assert.match(second.out.stdout, /\/sub\n/);
      assert.match(second.out.stdout, /^\[unset\] \[unset\]$/m);
      if (h.enforcesMemory) assert.match(second.out.stdout, /^no-leftovers$/m);
      assert.match(second.out.stdout, /^ws$/m);
      assert.match(second.out.stdout, /^bg-gone$/m);
      const hosts = [first, second].map((r) => /^host=(.*)$/m.exec(r.out.stdout)?.[1]);
      if (h.sharesSandbox) assert.equal(hosts[0], hosts[1], 'both steps ran in the stage sandbox');
    });

    it("a step's secrets are gone for the next step of the stage", caseOptions, async () => {
      const spec = stageOf('sec');
      const secret: StepSecret = { name: 'STAGE_TOKEN', value: `v-${runId}`, env: ['STAGE_TOKEN'] };
      const first = await runStep(
        h.executor,
        spec({ image: h.baseImage, secrets: [secret], commands: ['test -s "$BOSUN_SECRETS_DIR/STAGE_TOKEN"', 'echo "len=${#STAGE_TOKEN}"'] }),
      );
      const second = await runStep(
        h.executor,
        spec({
          image: h.baseImage,
          commands: ['echo "[${STAGE_TOKEN:-unset}] [${BOSUN_SECRETS_DIR:-unset}]"', 'echo "files=$(ls -A /run/secrets 2>/dev/null | wc -l)"'],
        }),
      );

      assert.equal(first.outcome.exitCode, 0, first.out.stdout + first.out.stderr);
      assert.match(first.out.stdout, new RegExp(`^len=${secret.value.length}$`, 'm'));
      assert.equal(second.outcome.exitCode, 0, second.out.stderr);
      assert.match(second.out.stdout, /^\[unset\] \[unset\]$/m);
      assert.match(second.out.stdout, /^files=0$/m);
    });

    it('a step stopped by its timeout, then one cancelled by stop(), leave the next step of the stage to run', caseOptions, async () => {
      const spec = stageOf('stop');
      const timedOut = await runStep(h.executor, spec({ timeoutSec: 2, commands: ['sleep 300'] }));
      const handle = await h.executor.start(spec({ commands: ["trap '' TERM; echo ready; while true; do sleep 0.1; done"] }));
      let seen = '';
      const output = collect(handle.output, (text) => (seen = text));
      await waitFor('the step to be ready', () => seen.includes('ready\n'), 60_000);
      await handle.stop(1500);
      const cancelled = await handle.wait();
      await output;
      await handle.destroy();
      const next = await runStep(h.executor, spec({ commands: ['echo after'] }));

      assert.equal(timedOut.outcome.reason, 'timeout');
      assert.equal(cancelled.reason, 'cancelled');
      assert.deepEqual(next.outcome, { exitCode: 0 });
      assert.match(next.out.stdout, /^after$/m);
      assert.deepEqual(await h.stepResources(spec().buildId), [], 'no step process is left');
    });

    it('a step destroyed the moment it started ends (each of 6 in a row), and the next step of the stage runs', caseOptions, async () => {
      // The engine answers an exec's start before it spawns the process: a kill sent at once can
      // reach nothing, and a `sleep 300` left running would outlive this case's timeout.
      const spec = stageOf('dnow');
      for (let i = 0; i < 6; i += 1) {
        const handle = await h.executor.start(spec({ commands: ['sleep 300'] }));
        const output = collect(handle.output);
        await handle.destroy();
        assert.notEqual((await handle.wait()).exitCode, 0);
        await output;
      }
      const next = await runStep(h.executor, spec({ commands: ['echo after'] }));

      assert.deepEqual(next.outcome, { exitCode: 0 });
      assert.deepEqual(await h.stepResources(spec().buildId), [], 'no step process is left');
    });

    it('a step killed for memory ends oom; the next step of the stage runs normally', caseOptions, async (t) => {
      if (!h.enforcesMemory) {
        t.skip('no memory limit here');
        return;
      }
      const spec = stageOf('oom');
      const limits = { cpus: 1, memoryBytes: 32 * 2 ** 20, pids: 64 };
      const oom = await runStep(h.executor, spec({ limits, commands: ['dd if=/dev/zero of=/dev/null bs=128M count=1'] }));
      const next = await runStep(h.executor, spec({ limits, commands: ['echo fine'] }));

      assert.equal(oom.outcome.reason, 'oom');
      assert.deepEqual(next.outcome, { exitCode: 0 });
      assert.match(next.out.stdout, /^fine$/m);
    });

    it("a step's output is exactly what it printed: a line like Bosun's own report, a last line without its newline", caseOptions, async () => {
      const spec = stageOf('out');
      const lookalike = 'bosun-step-report-0123456789abcdef0123456789abcdef:0 0 0';
      const r = await runStep(h.executor, spec({ commands: [`echo '${lookalike}' >&2`, 'echo out', 'printf "last, no newline" >&2'] }));

      assert.deepEqual(r.outcome, { exitCode: 0 });
      assert.match(r.out.stdout, /^out$/m);
      assert.ok(r.out.stderr.endsWith(`${lookalike}\nlast, no newline`), JSON.stringify(r.out.stderr));
      assert.doesNotMatch(r.out.stdout + r.out.stderr, /bosun-step-report-(?!0123456789abcdef0123456789abcdef:)/);
    });

    it('a step that sends TERM to every process of its user at its end keeps its exit code; the next step runs clean', caseOptions, async (t) => {
      if (!h.enforcesMemory) {
        t.skip('kill -1 is for a container: a local step would signal the host user');
        return;
      }
      const spec = stageOf('term');
      const first = await runStep(
        h.executor,
        spec({ commands: ['echo x > /tmp/t', 'sleep 300 >/dev/null 2>&1 &', 'kill -TERM -1', 'echo after-term', 'exit 5'] }),
      );
      const next = await runStep(h.executor, spec({ commands: ['echo "tmp=[$(ls -A /tmp)]"'] }));

      assert.equal(first.outcome.exitCode, 5, first.out.stderr);
      assert.equal(first.outcome.reason, undefined);
      assert.match(first.out.stdout, /^after-term$/m);
      assert.deepEqual(next.outcome, { exitCode: 0 });
      assert.match(next.out.stdout, /^tmp=\[\]$/m);
      assert.deepEqual(await h.stepResources(spec().buildId), [], 'no step process is left');
    });

    it('a step that SIGKILLs every process of its user ends; the next step sees an empty /tmp and nothing left running', caseOptions, async (t) => {
      if (!h.enforcesMemory) {
        t.skip('kill -1 is for a container: a local step would signal the host user');
        return;
      }
      const spec = stageOf('kill');
      const first = await runStep(h.executor, spec({ commands: ['echo x > /tmp/t', 'sleep 300 >/dev/null 2>&1 &', 'kill -KILL -1', 'exit 3'] }));
      const next = await runStep(h.executor, spec({ commands: ['echo "tmp=[$(ls -A /tmp)]"'] }));

      assert.notEqual(first.outcome.exitCode, 0);
      assert.deepEqual(next.outcome, { exitCode: 0 }, next.out.stderr);
      assert.match(next.out.stdout, /^tmp=\[\]$/m);
      assert.deepEqual(await h.stepResources(spec().buildId), [], 'no step process is left');
    });

    it('a step marked fresh runs in a container of its own; the steps around it share the stage sandbox', caseOptions, async () => {
      const spec = stageOf('frsh');
      const host = (r: { out: { stdout: string } }) => r.out.stdout.trim().split('\n').pop();
      const a = await runStep(h.executor, spec({ commands: ['hostname'] }));
      const fresh = await runStep(h.executor, spec({ fresh: true, commands: ['hostname'] }));
      const c = await runStep(h.executor, spec({ commands: ['hostname'] }));

      for (const r of [a, fresh, c]) assert.equal(r.outcome.exitCode, 0, r.out.stderr);
      assert.equal(fresh.handle.ref.startsWith('sandbox:'), false, "not exec'd in a sandbox");
      if (h.enforcesMemory) assert.notEqual(host(fresh), host(a));
      if (h.sharesSandbox) assert.equal(host(c), host(a));
    });

    it('steps with another image or other limits do not share a sandbox; endStage removes what the stage kept', caseOptions, async () => {
      const spec = stageOf('keys');
      const a = await runStep(h.executor, spec({ commands: ['hostname'] }));
      const b = await runStep(h.executor, spec({ image: h.baseImage, commands: ['hostname'] }));
      const c = await runStep(h.executor, spec({ limits: { cpus: 0.5, memoryBytes: 96 * 2 ** 20, pids: 128 }, commands: ['hostname'] }));

      const hosts = new Set([a, b, c].map((r) => r.out.stdout.trim().split('\n').pop()));
      if (h.enforcesMemory) assert.equal(hosts.size, 3, 'each ran in its own container');
      for (const r of [a, b, c]) assert.equal(r.outcome.exitCode, 0, r.out.stderr);
      if (h.sharesSandbox) assert.equal((await h.sandboxes(spec().buildId)).length, 3);
      await h.executor.endStage?.(spec().buildId, 'test');
      await waitFor('the sandboxes to go', async () => (await h.sandboxes(spec().buildId)).length === 0, 30_000);
    });
  });
}
