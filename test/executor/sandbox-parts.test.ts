import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Docker from 'dockerode';
import { labelKeys, type StepSpec } from '../../src/executor/executor.js';
import { SandboxPool, sandboxKey, type Sandbox } from '../../src/executor/container/sandbox-pool.js';
import { cleanStepScript, parseOomKills, parseStepReport, sandboxIdleUser, stepWithCleaningScript } from '../../src/executor/container/sandbox-script.js';
import { StepReportFilter } from '../../src/executor/container/step-report-filter.js';
import { parseSandboxRef, sandboxRef } from '../../src/executor/container/sandbox-step.js';
import { secretsMibFor } from '../../src/executor/container/stage-sandboxes.js';
import { toSandboxSpec } from '../../src/executor/docker/to-sandbox-spec.js';
import { toSandboxServiceSpec } from '../../src/executor/swarm/swarm-sandbox.js';

const spec = (over: Partial<StepSpec> = {}): StepSpec => ({
  buildId: '7',
  stage: 'test',
  step: 'unit',
  image: 'bosun/busybox:1',
  commands: ['echo hi'],
  env: { SECRET_LOOKING: 'env-value-of-a-step' },
  workspace: '/tmp/ws',
  workdir: '.',
  timeoutSec: 60,
  limits: { cpus: 0.5, memoryBytes: 256 * 2 ** 20, pids: 128 },
  labels: {},
  secrets: [{ name: 'TOKEN', value: 'the-secret-value', env: ['TOKEN'] }],
  ...over,
});

describe('stage sandbox parts', () => {
  it('the sandbox container keeps the step isolation, idles as nobody, and holds no step env, command or secret', () => {
    const options = toSandboxSpec({
      name: 'sb',
      imageId: 'sha256:abc',
      networkName: 'net',
      volumeName: 'vol',
      labels: { [labelKeys.sandbox]: 'stage' },
      limits: spec().limits,
      secretsMib: 1,
    });
    const text = JSON.stringify(options);

    assert.equal(options.User, sandboxIdleUser);
    assert.deepEqual(options.Env, ['HOME=/home/bosun']);
    assert.equal(options.HostConfig?.ReadonlyRootfs, true);
    assert.deepEqual(options.HostConfig?.CapDrop, ['ALL']);
    assert.deepEqual(options.HostConfig?.SecurityOpt, ['no-new-privileges']);
    assert.equal(options.HostConfig?.Init, true);
    assert.deepEqual(options.HostConfig?.RestartPolicy, { Name: 'no' });
    assert.equal(options.HostConfig?.Memory, 256 * 2 ** 20);
    assert.equal(options.HostConfig?.PidsLimit, 128);
    assert.equal(options.HostConfig?.NetworkMode, 'net');
    assert.match(String(options.HostConfig?.Tmpfs?.['/run/secrets']), /uid=1000,gid=1000,mode=0700/);
    assert.doesNotMatch(text, /the-secret-value|env-value-of-a-step|echo hi/);
  });

  it('the sandbox service keeps the step service spec, idles as nobody, and holds no step env, command or secret', () => {
    const options = toSandboxServiceSpec(
      spec(),
      { name: 'sb', image: 'sha256:abc', networkId: 'net', volumeName: 'vol', workdir: '', labels: {}, constraints: ['node.id==n1'], stopGraceMs: 1000 },
      2,
    );
    const task = options.TaskTemplate as Docker.ContainerTaskSpec;
    const text = JSON.stringify(options);

    assert.equal(task.ContainerSpec?.User, sandboxIdleUser);
    assert.equal(task.ContainerSpec?.ReadOnly, true);
    assert.deepEqual(task.ContainerSpec?.CapabilityDrop, ['ALL']);
    assert.deepEqual(task.RestartPolicy, { Condition: 'none', MaxAttempts: 0 });
    assert.deepEqual(task.Placement?.Constraints, ['node.id==n1']);
    assert.ok(task.ContainerSpec?.Mounts?.some((m) => m.Target === '/run/secrets' && m.Type === 'tmpfs'));
    assert.equal(task.ContainerSpec?.Secrets, undefined);
    assert.doesNotMatch(text, /the-secret-value|env-value-of-a-step|echo hi/);
  });

  it('steps share a sandbox key only within one build and stage, image and limits', () => {
    const base = sandboxKey(spec(), 'sha256:a', 1);

    assert.equal(sandboxKey(spec({ step: 'other', env: {} }), 'sha256:a', 1), base);
    assert.notEqual(sandboxKey(spec({ buildId: '8' }), 'sha256:a', 1), base);
    assert.notEqual(sandboxKey(spec({ stage: 'lint' }), 'sha256:a', 1), base);
    assert.notEqual(sandboxKey(spec(), 'sha256:b', 1), base);
    assert.notEqual(sandboxKey(spec({ limits: { ...spec().limits, memoryBytes: 2 ** 30 } }), 'sha256:a', 1), base);
    assert.notEqual(sandboxKey(spec(), 'sha256:a', 2), base);
  });

  it('refs name the container and the exec; other refs are not sandbox refs', () => {
    assert.deepEqual(parseSandboxRef(sandboxRef('abc123', 'def456')), { containerId: 'abc123', execId: 'def456' });
    assert.equal(parseSandboxRef('docker:abc123'), undefined);
    assert.equal(parseSandboxRef('swarm:abc'), undefined);
  });

  it('the OOM-kill counter is read from cgroup v1 or v2 output, or unknown', () => {
    assert.equal(parseOomKills('oom_kill 3\n'), 3);
    assert.equal(parseOomKills(''), undefined);
    assert.match(cleanStepScript()[2]!, /kill -KILL -1/);
  });

  it("a step's report is parsed from its line, and nothing else is a report", () => {
    assert.deepEqual(parseStepReport('0 0 2'), { exitCode: 0, clean: 0, oomKills: 2 });
    assert.deepEqual(parseStepReport('137 3 -'), { exitCode: 137, clean: 3, oomKills: undefined });
    for (const text of ['', '0 0', '0 0 1 extra', 'x 0 1', '0 0 1\r', '1000 0 1']) assert.equal(parseStepReport(text), undefined, text);
    const [sh, c, wrapper, name, script, marker] = stepWithCleaningScript('echo hi', 'M:');
    assert.deepEqual([sh, c, name, script, marker], ['/bin/sh', '-c', 'sh', 'echo hi', 'M:']);
    assert.match(wrapper!, /^trap : TERM HUP INT$/m, 'a handler, not an ignored signal (that the step would inherit)');
    assert.match(wrapper!, /\(exec \/bin\/sh -e -c "\$1" 2>&3 3>&-\)/);
  });

  describe('the report filter takes the report line out of stderr as it streams', () => {
    const marker = 'bosun-step-report-0123456789abcdef:';
    const run = (chunks: string[]) => {
      const out: Buffer[] = [];
      const filter = new StepReportFilter(marker, (data) => out.push(Buffer.from(data)));
      for (const chunk of chunks) filter.write(Buffer.from(chunk));
      const beforeEnd = Buffer.concat(out).toString();
      filter.end();
      return { text: Buffer.concat(out).toString(), beforeEnd, reports: [...filter.reports], truncated: filter.truncated };
    };
    const splitsOf = (text: string) => Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);
    const cases: Array<{ name: string; input: string; text: string; reports: string[]; truncated?: boolean }> = [
      { name: 'a report after a whole last line', input: `out\n${marker}0 0 1\n`, text: 'out\n', reports: ['0 0 1'] },
      { name: 'a report after a last line without its newline', input: `no newline${marker}3 0 -\n`, text: 'no newline', reports: ['3 0 -'] },
      { name: 'no report', input: 'just output\n', text: 'just output\n', reports: [] },
      {
        name: 'the marker without its nonce is output',
        input: 'bosun-step-report-:0 0 1\nbosun-step-report-0123\n',
        text: 'bosun-step-report-:0 0 1\nbosun-step-report-0123\n',
        reports: [],
      },
      { name: 'a tail that starts like the marker is output at the end', input: 'end bosun-step-rep', text: 'end bosun-step-rep', reports: [] },
      { name: 'two reports are both taken out', input: `${marker}0 0 1\nmid\n${marker}0 0 1\n`, text: 'mid\n', reports: ['0 0 1', '0 0 1'] },
      { name: 'a cut-off report', input: `out${marker}0 0`, text: 'out', reports: [], truncated: true },
      { name: 'output after a report passes', input: `${marker}1 0 0\nlate\n`, text: 'late\n', reports: ['1 0 0'] },
    ];
    for (const c of cases)
      it(`${c.name}, however the stream is split`, () => {
        for (const chunks of [[c.input], ...splitsOf(c.input), c.input.split('')]) {
          const got = run(chunks);
          assert.equal(got.text, c.text, JSON.stringify(chunks));
          assert.deepEqual(got.reports, c.reports, JSON.stringify(chunks));
          assert.equal(got.truncated, c.truncated ?? false, JSON.stringify(chunks));
        }
      });

    it('holds back only what could be the start of the marker', () => {
      const got = run(['line\nbosun-st', 'x\n', 'tail bosun-step-report-0']);
      assert.equal(got.beforeEnd, 'line\nbosun-stx\ntail ');
      assert.equal(got.text, 'line\nbosun-stx\ntail bosun-step-report-0');
    });

    it('100,000 lines in 64 KiB chunks come out byte for byte, the report out of them', () => {
      const lines = Array.from({ length: 100_000 }, (_, i) => `line ${i} bosun-step-report-${i}\n`).join('');
      const input = `${lines}${marker}0 0 5\n`;
      const chunks: string[] = [];
      for (let i = 0; i < input.length; i += 65_536) chunks.push(input.slice(i, i + 65_536));
      const got = run(chunks);
      assert.equal(got.text, lines);
      assert.deepEqual(got.reports, ['0 0 5']);
    });
  });

  it('secrets tmpfs size: 1 MiB for small secrets, more for large ones', () => {
    assert.equal(secretsMibFor([]), 1);
    assert.equal(secretsMibFor([{ value: 'x' }]), 1);
    assert.equal(secretsMibFor([{ value: 'x'.repeat(3 * 2 ** 20) }]), 4);
  });

  it('the pool gives an idle sandbox of the key back, a new one otherwise, and removes what it is told to', async () => {
    const removed: string[] = [];
    let made = 0;
    const make =
      (key: string, buildId = '1') =>
      async (): Promise<Sandbox> => {
        made += 1;
        const id = `c${made}`;
        return { id, container: {} as Docker.Container, key, buildId, stage: 'test', where: '', oomKills: 0, remove: async () => void removed.push(id) };
      };
    const pool = new SandboxPool();

    const a = await pool.acquire('k', make('k'));
    const b = await pool.acquire('k', make('k'));
    await pool.release(a, true);
    const again = await pool.acquire('k', make('k'));
    await pool.release(b, false);
    const other = await pool.acquire('other', make('other', '2'));
    await pool.removeWhere((s) => s.buildId === '1');

    assert.notEqual(a.id, b.id, 'two steps at once never share one');
    assert.equal(again.id, a.id, 'a released healthy sandbox is reused');
    assert.deepEqual(removed.sort(), ['c1', 'c2']);
    assert.ok(pool.has(other.id));
    assert.ok(!pool.has(a.id));
  });
});
