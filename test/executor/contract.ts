import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CodedError, UserError } from '../../src/errors.js';
import { labelKeys, type StepSpec } from '../../src/executor/executor.js';
import { collect, greeter, hostAddresses, makeSpec, makeWorkspace, runId, runStep, waitFor, type ContractHarness } from './contract-support.js';

/** Every case is bounded; a hung step fails its case, not the whole run. */
const caseOptions = { timeout: 90_000 };

/**
 * The executor contract (src/executor/executor.ts) as one suite, run against every executor.
 * `makeExecutor` builds the executor under test with `timeoutGraceMs` of about 2 s.
 * Isolation cases run only for executors that expose `inspectIsolation` (containers).
 */
export function runExecutorContract(name: string, makeExecutor: () => Promise<ContractHarness>): void {
  describe(`executor contract: ${name}`, { concurrency: 3, timeout: 300_000 }, () => {
    let h: ContractHarness;
    let workspace: string;
    const buildId = `c${runId}${name}`;
    const spec = (over: Partial<StepSpec> = {}): StepSpec => makeSpec({ workspace, image: h.image, buildId }, over);

    before(async () => {
      workspace = makeWorkspace();
      h = await makeExecutor();
    });

    after(async () => {
      await h?.executor.cleanupBuild(buildId);
      await h?.close();
    });

    it('a successful step exits 0 and its output is captured, each command echoed first', caseOptions, async () => {
      const { outcome, out } = await runStep(h.executor, spec({ commands: ['echo hello', 'echo "a b"'] }));

      assert.deepEqual(outcome, { exitCode: 0 });
      assert.equal(out.stdout, '+ echo hello\nhello\n+ echo "a b"\na b\n');
      assert.equal(out.stderr, '');
    });

    it('a failing command ends the step with its exit code and runs nothing after it', caseOptions, async () => {
      const { outcome, out } = await runStep(h.executor, spec({ commands: ['echo before', 'exit 3', 'echo after'] }));

      assert.deepEqual(outcome, { exitCode: 3 });
      assert.match(out.stdout, /before/);
      assert.doesNotMatch(out.stdout, /after\n/);
    });

    it('stdout and stderr are both captured, tagged, each in order', caseOptions, async () => {
      const script = 'i=1; while [ $i -le 200 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done';

      const { outcome, out } = await runStep(h.executor, spec({ commands: [script] }));

      assert.equal(outcome.exitCode, 0);
      const numbers = Array.from({ length: 200 }, (_, i) => i + 1);
      assert.equal(out.stdout, `+ ${script}\n` + numbers.map((i) => `out${i}\n`).join(''));
      assert.equal(out.stderr, numbers.map((i) => `err${i}\n`).join(''));
      assert.ok(out.chunks.every((c) => c.stream === 'stdout' || c.stream === 'stderr'));
    });

    it("the step sees spec.env and nothing of Bosun's own environment", caseOptions, async () => {
      process.env.BOSUN_CONTRACT_SECRET = 'do-not-leak';

      const { out } = await runStep(
        h.executor,
        spec({ env: { GREETING: 'hello world', QUOTE: `it's "quoted"` }, commands: ['echo "$GREETING|$QUOTE"', 'env'] }),
      );

      assert.match(out.stdout, /^hello world\|it's "quoted"$/m);
      assert.doesNotMatch(out.stdout, /do-not-leak/);
      assert.match(out.stdout, /^HOME=/m);
      assert.match(out.stdout, /^PATH=/m);
    });

    it('the step runs in <workspace>/<workdir> and sees the checkout', caseOptions, async () => {
      const { outcome, out } = await runStep(h.executor, spec({ workdir: 'sub', commands: ['pwd', 'cat marker.txt', 'cat ../README'] }));

      assert.equal(outcome.exitCode, 0, out.stdout + out.stderr);
      assert.match(out.stdout, /\/sub\n/);
      assert.match(out.stdout, /in sub\n/);
      assert.match(out.stdout, /the checkout\n/);
    });

    it('a workdir outside the workspace is refused as a user error', caseOptions, async () => {
      await assert.rejects(h.executor.start(spec({ workdir: '../..' })), UserError);
    });

    it('files written by one step are seen by the next step of the same build', caseOptions, async () => {
      const first = await runStep(h.executor, spec({ commands: [`echo ${runId} > shared-${name}.txt`] }));
      const second = await runStep(h.executor, spec({ commands: [`cat shared-${name}.txt`] }));

      assert.equal(first.outcome.exitCode, 0, first.out.stderr);
      assert.equal(second.outcome.exitCode, 0, second.out.stderr);
      assert.match(second.out.stdout, new RegExp(`^${runId}$`, 'm'));
    });

    it('the workspace is a git checkout usable by git in the step image', caseOptions, async () => {
      const { outcome, out } = await runStep(h.executor, spec({ image: h.baseImage, commands: ['git log --format=%s', 'python3 -c "print(6*7)"'] }));

      assert.equal(outcome.exitCode, 0, out.stderr);
      assert.match(out.stdout, /^initial$/m);
      assert.match(out.stdout, /^42$/m);
    });

    it('a step over its timeout is stopped with reason timeout and leaves nothing behind', caseOptions, async () => {
      const stepBuild = `${buildId}to`;
      const started = Date.now();

      const { outcome } = await runStep(h.executor, spec({ buildId: stepBuild, labels: labelsFor(stepBuild), timeoutSec: 2, commands: ['sleep 300'] }));

      assert.equal(outcome.reason, 'timeout');
      assert.notEqual(outcome.exitCode, 0);
      assert.ok(Date.now() - started < 30_000, 'stopped long before the sleep ended');
      assert.deepEqual(await h.stepResources(stepBuild), []);
      await h.executor.cleanupBuild(stepBuild);
    });

    it('stop() cancels a running step with SIGTERM and lets it finish within the grace', caseOptions, async () => {
      const handle = await h.executor.start(spec({ commands: ["trap 'echo bye; exit 143' TERM; echo ready; while true; do sleep 0.1; done"] }));
      let seen = '';
      const output = collect(handle.output, (text) => (seen = text));
      await waitFor('the step to be ready', () => seen.includes('ready\n'));

      await handle.stop(10_000);
      const outcome = await handle.wait();
      const out = await output;
      await handle.destroy();

      assert.equal(outcome.reason, 'cancelled');
      assert.match(out.stdout, /^bye$/m);
      await handle.stop(1000);
    });

    it('stop() kills a step that ignores SIGTERM once the grace is over', caseOptions, async () => {
      const handle = await h.executor.start(spec({ commands: ["trap '' TERM; echo ready; while true; do sleep 0.1; done"] }));
      let seen = '';
      const output = collect(handle.output, (text) => (seen = text));
      await waitFor('the step to be ready', () => seen.includes('ready\n'));
      const started = Date.now();

      await handle.stop(1500);
      const outcome = await handle.wait();
      await output;
      await handle.destroy();

      assert.equal(outcome.reason, 'cancelled');
      assert.ok(Date.now() - started >= 1000, 'the grace was respected');
    });

    it('destroy is idempotent: twice, concurrently, and by ref from elsewhere', caseOptions, async () => {
      const handle = await h.executor.start(spec({ commands: ['sleep 300'] }));
      const output = collect(handle.output);

      await Promise.all([handle.destroy(), handle.destroy()]);
      await handle.destroy();
      await h.executor.destroyRef(handle.ref);
      await h.executor.destroyRef(handle.ref);

      assert.notEqual((await handle.wait()).exitCode, 0);
      await output;
    });

    it('inspectRef says running while a step runs; afterwards its real exit code (containers) or gone (local); gone once destroyed', caseOptions, async () => {
      // Long enough to be seen running after a slow start (a pending Swarm task, a loaded engine).
      const handle = await h.executor.start(spec({ commands: ['sleep 10', 'exit 3'] }));
      const output = collect(handle.output);

      let running = await h.executor.inspectRef(handle.ref);
      await waitFor('the step to be seen running', async () => (running = await h.executor.inspectRef(handle.ref)).state === 'running');
      await handle.wait();
      const ended = await h.executor.inspectRef(handle.ref);
      await handle.destroy();
      const destroyed = await h.executor.inspectRef(handle.ref);
      await output;

      assert.equal(running.state, 'running');
      if (h.knowsExitWithoutReattach) assert.deepEqual({ state: ended.state, exitCode: ended.exitCode }, { state: 'exited', exitCode: 3 });
      else assert.deepEqual(ended, h.reattaches ? { state: 'exited', exitCode: 3 } : { state: 'gone', detail: ended.detail });
      assert.equal(destroyed.state, 'gone');
    });

    it('reattach takes a running step back from a dead handle: its whole output from the first line and its real outcome', caseOptions, async (t) => {
      if (!h.reattaches) {
        t.skip('a local step cannot be re-attached');
        return;
      }
      // The first handle's reader is never used: as if its worker had died.
      // Long enough to still run once seen running after a slow start (a pending Swarm task).
      const first = await h.executor.start(spec({ commands: ['echo before', 'sleep 8', 'echo after >&2', 'exit 4'] }));
      await waitFor('the step to run', async () => (await h.executor.inspectRef(first.ref)).state === 'running');

      const again = await h.executor.reattach(first.ref, 60);
      assert.ok(again, 'a running step can be re-attached');
      const [outcome, out] = await Promise.all([again.wait(), collect(again.output)]);
      await again.destroy();
      await first.destroy();

      assert.deepEqual(outcome, { exitCode: 4 });
      assert.equal(out.stdout, '+ echo before\nbefore\n+ sleep 8\n+ echo after >&2\n+ exit 4\n');
      assert.equal(out.stderr, 'after\n');
      assert.equal((await h.executor.inspectRef(first.ref)).state, 'gone');
      assert.equal(await h.executor.reattach(first.ref, 60), undefined, 'nothing to re-attach once destroyed');
    });

    it('reattach to a step that already ended gives its outcome at once and its whole output', caseOptions, async (t) => {
      if (!h.reattaches) {
        t.skip('a local step cannot be re-attached');
        return;
      }
      const first = await h.executor.start(spec({ commands: ['echo done'] }));
      await first.wait();

      const again = await h.executor.reattach(first.ref, 60);
      assert.ok(again);
      const [outcome, out] = await Promise.all([again.wait(), collect(again.output)]);
      await again.destroy();
      await first.destroy();

      assert.deepEqual(outcome, { exitCode: 0 });
      assert.equal(out.stdout, '+ echo done\ndone\n');
    });

    it('a re-attached step is held to what is left of its timeout', caseOptions, async (t) => {
      if (!h.reattaches) {
        t.skip('a local step cannot be re-attached');
        return;
      }
      const first = await h.executor.start(spec({ commands: ['sleep 300'] }));
      await waitFor('the step to run', async () => (await h.executor.inspectRef(first.ref)).state === 'running');

      const again = await h.executor.reattach(first.ref, 3);
      assert.ok(again);
      const [outcome] = await Promise.all([again.wait(), collect(again.output)]);
      await again.destroy();
      await first.destroy();

      assert.equal(outcome.reason, 'timeout');
    });

    it('a start that fails (missing image or bad workdir) throws a coded error and leaves nothing', caseOptions, async () => {
      const failBuild = `${buildId}bad`;
      const bad = h.enforcesMemory
        ? spec({ buildId: failBuild, labels: labelsFor(failBuild), image: 'bosun/does-not-exist:1' })
        : spec({ buildId: failBuild, labels: labelsFor(failBuild), workdir: 'no/such/dir' });

      const err = await h.executor.start(bad).then(
        () => undefined,
        (e: unknown) => e,
      );

      assert.ok(err instanceof CodedError, `expected a coded error, got ${String(err)}`);
      if (h.enforcesMemory) {
        assert.ok(err instanceof UserError);
        assert.match(err.message, /bosun\/does-not-exist:1 is not available on this engine/);
      }
      assert.deepEqual(await h.stepResources(failBuild), []);
      await h.executor.cleanupBuild(failBuild);
      assert.deepEqual(await h.buildResources(failBuild), []);
    });

    it('a step printing 100,000 lines delivers every line once, in order', caseOptions, async () => {
      const { outcome, out } = await runStep(h.executor, spec({ commands: ['seq 1 100000'] }));

      assert.equal(outcome.exitCode, 0);
      const lines = out.stdout.split('\n');
      assert.equal(lines.shift(), '+ seq 1 100000');
      assert.equal(lines.pop(), '');
      assert.equal(lines.length, 100_000);
      lines.forEach((line, i) => {
        if (line !== String(i + 1)) assert.fail(`line ${i + 1} is ${JSON.stringify(line)}`);
      });
    });

    it('a step over its memory limit ends with reason oom', caseOptions, async (t) => {
      if (!h.enforcesMemory) {
        t.skip('local executor has no memory limit');
        return;
      }

      const { outcome } = await runStep(
        h.executor,
        spec({ limits: { cpus: 1, memoryBytes: 32 * 2 ** 20, pids: 64 }, commands: ['dd if=/dev/zero of=/dev/null bs=128M count=1'] }),
      );

      assert.equal(outcome.reason, 'oom');
      assert.notEqual(outcome.exitCode, 0);
    });

    it('reap removes resources of this instance that are not claimed, and keeps claimed ones', caseOptions, async () => {
      const orphanBuild = `${buildId}orph`;
      const keptBuild = `${buildId}kept`;
      const orphan = await h.executor.start(spec({ buildId: orphanBuild, labels: labelsFor(orphanBuild), commands: ['sleep 300'] }));
      const kept = await h.executor.start(spec({ buildId: keptBuild, labels: labelsFor(keptBuild), commands: ['sleep 300'] }));
      const outputs = [collect(orphan.output), collect(kept.output)];

      const removed = await h.executor.reap((labels) => labels[labelKeys.build] !== orphanBuild);

      assert.ok(removed.includes(orphan.ref), `reaped ${JSON.stringify(removed)}`);
      assert.ok(!removed.includes(kept.ref));
      await waitFor('the orphan to be gone', async () => (await h.stepResources(orphanBuild)).length === 0);
      assert.ok((await h.stepResources(keptBuild)).length > 0);
      await orphan.wait().catch(() => undefined);
      await kept.destroy();
      await orphan.destroy();
      await Promise.allSettled(outputs);
      await h.executor.cleanupBuild(orphanBuild);
      await h.executor.cleanupBuild(keptBuild);
    });

    it('reapBuilds removes the network and workspace of builds that are not live, and only those', caseOptions, async () => {
      const deadBuild = `${buildId}dead`;
      await runStep(h.executor, spec({ buildId: deadBuild, labels: labelsFor(deadBuild), commands: ['true'] }));

      const cleaned = await h.reapBuilds((id) => id !== deadBuild);

      assert.deepEqual(cleaned, h.perBuildResources ? [deadBuild] : []);
      assert.deepEqual(await h.buildResources(deadBuild), []);
    });

    it('cleanupBuild removes the per-build resources and is idempotent', caseOptions, async () => {
      const ownBuild = `${buildId}cb`;
      await runStep(h.executor, spec({ buildId: ownBuild, labels: labelsFor(ownBuild), commands: ['true'] }));

      await h.executor.cleanupBuild(ownBuild);
      await h.executor.cleanupBuild(ownBuild);

      assert.deepEqual(await h.buildResources(ownBuild), []);
    });
  });
}

function labelsFor(buildId: string): Record<string, string> {
  return { [labelKeys.build]: buildId, [labelKeys.stage]: 'test', [labelKeys.step]: 'x' };
}

/**
 * Isolation cases for container executors (R15, R16, R18): asserted on the real container or
 * service via inspect, and from inside a step.
 */
export function runIsolationContract(name: string, makeExecutor: () => Promise<ContractHarness>): void {
  describe(`executor isolation: ${name}`, { concurrency: 2, timeout: 180_000 }, () => {
    let h: ContractHarness;
    let workspace: string;
    const buildId = `i${runId}${name}`;
    const spec = (over: Partial<StepSpec> = {}): StepSpec => makeSpec({ workspace, image: h.image, buildId }, over);

    before(async () => {
      workspace = makeWorkspace();
      h = await makeExecutor();
    });

    after(async () => {
      await h?.executor.cleanupBuild(buildId);
      await h?.close();
    });

    it('the real container runs unprivileged, capability-free, read-only, limited, non-root, on an internal network', caseOptions, async () => {
      const handle = await h.executor.start(spec({ limits: { cpus: 0.5, memoryBytes: 64 * 2 ** 20, pids: 100 }, commands: ['sleep 300'] }));
      const output = collect(handle.output);
      try {
        const facts = await h.inspectIsolation!(handle.ref);

        assert.equal(facts.privileged, false);
        assert.deepEqual(facts.capAdd, []);
        assert.deepEqual(facts.capDrop, ['ALL']);
        assert.deepEqual(facts.bindMounts, []);
        assert.equal(facts.readonlyRootfs, true);
        assert.match(facts.user, /^[1-9]\d*(:\d+)?$/);
        assert.equal(facts.pidsLimit, 100);
        assert.equal(facts.memoryBytes, 64 * 2 ** 20);
        assert.equal(facts.nanoCpus, 0.5e9);
        assert.ok(facts.networksInternal.length > 0 && facts.networksInternal.every(Boolean), JSON.stringify(facts.networksInternal));
      } finally {
        await handle.destroy();
        await output;
      }
    });

    it('inside the step: no capabilities, a read-only root, a non-root user, writable /tmp and HOME', caseOptions, async () => {
      const { out } = await runStep(
        h.executor,
        spec({
          commands: [
            'grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status',
            'id -u',
            'touch /evil 2>/dev/null && echo ROOT-WRITABLE || echo root-read-only',
            'touch /tmp/x "$HOME/x" && echo tmp-ok',
            'touch /workspace/x && echo ws-ok',
          ],
        }),
      );

      assert.match(out.stdout, /^CapEff:\s+0000000000000000$/m);
      assert.match(out.stdout, /^CapBnd:\s+0000000000000000$/m);
      assert.match(out.stdout, /^1000$/m);
      assert.match(out.stdout, /^root-read-only$/m);
      assert.match(out.stdout, /^tmp-ok$/m);
      assert.match(out.stdout, /^ws-ok$/m);
    });

    it('inside the step: the host (loopback, its addresses, the bridges) cannot be reached', caseOptions, async () => {
      const server = await greeter();
      const probes = hostAddresses().map((ip) => `nc -w 2 ${ip} ${server.port} </dev/null || true`);
      try {
        // The metadata address and private ranges are probed in egress.test.ts, where they exist on a test host first.
        const { out } = await runStep(h.executor, spec({ commands: [...probes, 'echo probes-done'] }));

        assert.match(out.stdout, /^probes-done$/m);
        assert.doesNotMatch(out.stdout, /HELLO-BOSUN/);
        assert.equal(server.connections, 0);
      } finally {
        await server.close();
      }
    });

    it('a fork bomb is contained by the pids limit', caseOptions, async () => {
      const { outcome, out } = await runStep(
        h.executor,
        spec({
          timeoutSec: 20,
          limits: { cpus: 1, memoryBytes: 128 * 2 ** 20, pids: 32 },
          commands: ['i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); done; echo spawned'],
        }),
      );

      assert.notEqual(outcome.exitCode, 0, out.stdout);
      assert.match(out.stderr, /can't fork|Resource temporarily unavailable/);
      assert.doesNotMatch(out.stdout, /^spawned$/m);
    });
  });
}
