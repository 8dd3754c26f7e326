import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Executor, StepSpec } from '../../src/executor/executor.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { NetworkConfig } from '../../src/executor/container/egress-policy.js';
import { egressNames } from '../../src/executor/container/egress-rules.js';
import { silentLogger } from '../../src/logger.js';
import { collect, greeter, hostAddresses, makeSpec, makeWorkspace, runId, runStep, waitFor } from './contract-support.js';
import { baseImage, engineForTests, sweepInstance, testInstanceId } from './docker-harness.js';
import { egressWorldProblem, startEgressWorld, type EgressWorld } from '../support/egress-world.js';

// Egress under a policy (docs/network.md), for real (shared by egress.test.ts and egress-swarm.test.ts): a stand-in internet, private host and
// metadata service in a network namespace (test/support/egress-world.ts), steps on the docker
// and swarm executors. Both executors in one file: the world's addresses exist once per machine.

export const docker = await engineForTests(true);
export const problem = egressWorldProblem();

/** A step script that tries TCP to each `host:port` in $PROBES and prints OPEN/SHUT per target. */
const probeScript = [
  'import os, socket',
  'for target in os.environ["PROBES"].split():',
  '    host, port = target.rsplit(":", 1)',
  '    try:',
  '        s = socket.create_connection((host, int(port)), timeout=3)',
  '    except OSError as e:',
  '        print("SHUT", target, type(e).__name__, flush=True)',
  '        continue',
  '    s.settimeout(10)', // the greeting comes from a userspace server: give a loaded machine time
  '    try:',
  '        greeting = s.recv(64).decode().strip()',
  '    except OSError:',
  '        greeting = "-"',
  '    print("OPEN", target, greeting, flush=True)',
].join('\n');
export const probe = `python3 -c '${probeScript}'`;

/** Fetch pip from the index by name, then `pip download` a package by name through it. */
export const pipDownload = (indexUrl: string, pkg: string): string[] => [
  "python3 -c \"import urllib.request; urllib.request.urlretrieve('http://pypi.test/files/pip.whl', '/tmp/pip.whl')\"",
  `python3 /tmp/pip.whl/pip download --no-cache-dir --disable-pip-version-check --retries 0 --timeout 5 --index-url ${indexUrl} --trusted-host pypi.test -d /tmp/dl ${pkg}`,
];

/** The executors the policy cases run on. */
export type Kind = 'docker' | 'swarm' | 'dsbx' | 'ssbx' | 'dpool';

/**
 * The policy cases on each of `kinds` (dsbx, ssbx: docker and swarm with `sandbox: stage`).
 * Three test files share them (egress.test.ts: docker, dsbx; egress-swarm.test.ts: swarm, ssbx;
 * egress-pool.test.ts: dpool), so that each file stays well within the per-file time limit (a
 * file waiting for the world's lock spends its own time); they take the lock in turn.
 */
export function describeEgressPolicy(kinds: readonly Kind[]): void {
  if (!docker || problem) return;
  const engine = docker;
  describe(`step egress under a policy: ${kinds.join(', ')}`, { timeout: 900_000 }, () => {
    let world: EgressWorld;
    let workspace: string;
    const executors: Array<{ executor: Executor; builds: string[] }> = [];

    before(async () => {
      world = await startEgressWorld();
      workspace = makeWorkspace();
    });

    after(async () => {
      for (const { executor, builds } of executors) {
        for (const b of builds) await executor.cleanupBuild(b).catch(() => undefined);
        await executor.close();
      }
      await sweepInstance(engine);
      await world?.close();
    });

    const policy = (over: Partial<NetworkConfig> = {}): NetworkConfig => NetworkConfig.parse({ dns: [world.dns], ...over });

    /** Runs a step and removes its build's network at once (machine-wide, Docker's address pools are few). */
    const runAndClean = async (executor: Executor, spec: StepSpec): ReturnType<typeof runStep> => {
      try {
        return await runStep(executor, spec);
      } finally {
        await executor.cleanupBuild(spec.buildId).catch(() => undefined);
      }
    };

    // dsbx, ssbx: docker and swarm with `sandbox: stage` (the steps exec'd in a sandbox on the build's network).
    for (const kind of kinds) {
      const make = (egress: NetworkConfig): { executor: Executor; spec: (buildId: string, over?: Partial<StepSpec>) => StepSpec } => {
        const common = {
          docker: engine,
          instanceId: testInstanceId,
          log: silentLogger(),
          timeoutGraceMs: 2000,
          egress,
          sandbox: kind === 'docker' || kind === 'swarm' ? ('step' as const) : ('stage' as const),
        };
        // dpool: dsbx with a warm pool (docs/pool.md), each start waiting for the pool first so that builds claim.
        const pool = { size: 1, images: [baseImage], idleSec: 600, limits: { cpus: 1, memoryBytes: 512 * 2 ** 20, pids: 256 } };
        const executor =
          kind === 'swarm' || kind === 'ssbx'
            ? new SwarmExecutor(common)
            : kind === 'dpool'
              ? warmFirst(new DockerExecutor({ ...common, pool }))
              : new DockerExecutor(common);
        const entry = { executor, builds: [] as string[] };
        executors.push(entry);
        return {
          executor,
          spec: (buildId, over = {}) => {
            entry.builds.push(buildId);
            return makeSpec({ workspace, image: baseImage, buildId }, { limits: { cpus: 1, memoryBytes: 512 * 2 ** 20, pids: 256 }, timeoutSec: 180, ...over });
          },
        };
      };

      describe(`${kind} executor`, () => {
        it('egress internet: a step downloads a package from the index by name (DNS, NAT)', async () => {
          const { executor, spec } = make(policy());
          const before = world.hits(world.internet);

          const { outcome, out, handle } = await runStep(executor, spec(`eg${runId}${kind}i`, { commands: pipDownload(world.indexUrl, 'six') }));

          assert.equal(outcome.exitCode, 0, out.stdout + out.stderr);
          if (kind === 'dpool') assert.match(handle.where ?? '', /warm sandbox .* \(claimed from the pool\)/);
          assert.match(out.stdout, /Saved \/tmp\/dl\/six-[\d.]+-py2\.py3-none-any\.whl/);
          assert.ok(world.hits(world.internet) > before);
        });

        it('egress internet: this host (any address, any port), the private host, the metadata address and another build are unreachable', async () => {
          const { executor, spec } = make(policy());
          const host = await greeter();
          const other = await executor.start(
            spec(`eg${runId}${kind}o`, {
              commands: [
                'python3 -c \'import socket; s=socket.socket(); s.bind(("0.0.0.0", 8080)); s.listen(); print("ADDR", socket.gethostbyname(socket.gethostname()), flush=True)\nwhile True: c,_=s.accept(); c.sendall(b"HELLO-OTHER-BUILD\\n"); c.close()\'',
              ],
            }),
          );
          let otherOut = '';
          const otherDone = collect(other.output, (text) => (otherOut = text));
          try {
            await waitFor('the other build to listen', () => /^ADDR \S+$/m.test(otherOut), 60_000);
            const otherAddr = /^ADDR (\S+)$/m.exec(otherOut)![1]!;
            // Controls: from the host, the other build's listener and the greeter answer.
            assert.match(
              execFileSync('python3', ['-c', `import socket; print(socket.create_connection(("${otherAddr}", 8080), timeout=3).recv(64))`]).toString(),
              /HELLO-OTHER-BUILD/,
            );
            const hostPorts = hostAddresses().flatMap((ip) => [`${ip}:${host.port}`, `${ip}:2375`, `${ip}:2376`, `${ip}:2377`]);
            const targets = [...hostPorts, `${world.privateHost}:80`, `${world.metadata}:80`, `${otherAddr}:8080`, `${world.internet}:80`];
            const hitsBefore = { private: world.hits(world.privateHost), metadata: world.hits(world.metadata) };

            const { outcome, out, handle } = await runStep(executor, spec(`eg${runId}${kind}p`, { env: { PROBES: targets.join(' ') }, commands: [probe] }));

            assert.equal(outcome.exitCode, 0, out.stderr);
            if (kind === 'dpool') assert.match(handle.where ?? '', /warm sandbox .* \(claimed from the pool\)/, 'the probes ran in a claimed sandbox');
            if (process.env.EGRESS_DEBUG) console.log(out.stdout);
            assert.match(out.stdout, new RegExp(`^OPEN ${world.internet.replace(/\./g, '\\.')}:80 `, 'm'), 'control: the internet answers');
            const open = out.stdout.split('\n').filter((l) => l.startsWith('OPEN') && !l.startsWith(`OPEN ${world.internet}:80`));
            // Should this ever fail, say how the host was set up at that moment (seen once on ssbx, not reproduced).
            if (open.length > 0) assert.deepEqual(open, [], `${out.stdout}\n${egressDiagnostics()}`);
            assert.equal(out.stdout.split('\n').filter((l) => l.startsWith('SHUT')).length, targets.length - 1, out.stdout);
            assert.equal(host.connections, 0);
            assert.equal(world.hits(world.privateHost), hitsBefore.private);
            assert.equal(world.hits(world.metadata), hitsBefore.metadata);
          } finally {
            await other.destroy();
            await otherDone;
            await host.close();
          }
        });

        it('egress none: nothing outside the build is reachable, the index by name included', async () => {
          const { executor, spec } = make(policy({ egress: 'none' }));
          const before = world.hits(world.internet);

          const { outcome, out } = await runStep(
            executor,
            spec(`eg${runId}${kind}n`, {
              env: { PROBES: `${world.internet}:80 ${world.privateHost}:80 ${world.metadata}:80` },
              commands: [probe, ...pipDownload(world.indexUrl, 'six')],
            }),
          );

          assert.notEqual(outcome.exitCode, 0);
          assert.doesNotMatch(out.stdout, /^OPEN/m, out.stdout);
          assert.equal(world.hits(world.internet), before);
          assert.match(executor.network ?? '', /^egress=none/);
        });

        it('egress allowlist: exactly what it names is reachable', async () => {
          const { executor, spec } = make(policy({ egress: 'allowlist', allow: [`${world.privateHost}:80`] }));

          const { out } = await runStep(
            executor,
            spec(`eg${runId}${kind}a`, {
              env: { PROBES: `${world.privateHost}:80 ${world.privateHost}:81 ${world.internet}:80 ${world.metadata}:80` },
              commands: [probe],
            }),
          );

          assert.match(out.stdout, new RegExp(`^OPEN ${world.privateHost.replace(/\./g, '\\.')}:80 HELLO-`, 'm'), out.stdout);
          assert.equal(out.stdout.split('\n').filter((l) => l.startsWith('SHUT')).length, 3, out.stdout);
        });

        it('bosun.yml narrows internet to none: the step cannot pip download, nothing outside is reached', async () => {
          const { executor, spec } = make(policy());
          const before = { internet: world.hits(world.internet), elsewhere: world.hits(world.elsewhere) };

          const { outcome, out } = await runAndClean(
            executor,
            spec(`eg${runId}${kind}yn`, {
              network: { egress: 'none' },
              env: { PROBES: `${world.internet}:80 ${world.elsewhere}:80 ${world.privateHost}:80` },
              commands: [probe, ...pipDownload(world.indexUrl, 'six')],
            }),
          );

          assert.notEqual(outcome.exitCode, 0, out.stdout);
          assert.doesNotMatch(out.stdout, /^OPEN/m, out.stdout);
          assert.doesNotMatch(out.stdout, /Saved \/tmp\/dl/);
          assert.deepEqual({ internet: world.hits(world.internet), elsewhere: world.hits(world.elsewhere) }, before);
          assert.match(executor.networkFor!({ egress: 'none' }), /^egress=none \(no route out.*\[narrowed by bosun\.yml from the server's egress=internet\]$/);
        });

        it('bosun.yml allowlists only the index host: pip download works, another internet address is refused', async () => {
          const { executor, spec } = make(policy());
          const network = { egress: 'allowlist' as const, allow: [`${world.internet}:80`] };
          const before = world.hits(world.elsewhere);

          const { outcome, out } = await runAndClean(
            executor,
            spec(`eg${runId}${kind}ya`, {
              network,
              env: { PROBES: `${world.internet}:80 ${world.elsewhere}:80 ${world.internet}:8080` },
              commands: [probe, ...pipDownload(world.indexUrl, 'six')],
            }),
          );

          assert.equal(outcome.exitCode, 0, out.stdout + out.stderr);
          assert.match(out.stdout, new RegExp(`^OPEN ${world.internet.replace(/\./g, '\\.')}:80 `, 'm'), out.stdout);
          assert.match(out.stdout, new RegExp(`^SHUT ${world.elsewhere.replace(/\./g, '\\.')}:80 `, 'm'), out.stdout);
          assert.match(out.stdout, /Saved \/tmp\/dl\/six-[\d.]+-py2\.py3-none-any\.whl/, 'by name: DNS still answers');
          assert.equal(world.hits(world.elsewhere), before);
          assert.match(executor.networkFor!(network), /^egress=allowlist \(allowed: 198\.51\.100\.10:80, and DNS;/);
        });

        it('a widening at run time is ignored: the server allowlist stays the ceiling, and the policy line says so', async () => {
          const { executor, spec } = make(policy({ egress: 'allowlist', allow: [`${world.internet}:80`] }));
          const network = { egress: 'internet' as const };

          const { out } = await runAndClean(
            executor,
            spec(`eg${runId}${kind}yw`, { network, env: { PROBES: `${world.internet}:80 ${world.elsewhere}:80` }, commands: [probe] }),
          );

          assert.match(out.stdout, new RegExp(`^OPEN ${world.internet.replace(/\./g, '\\.')}:80 `, 'm'), out.stdout);
          assert.match(out.stdout, new RegExp(`^SHUT ${world.elsewhere.replace(/\./g, '\\.')}:80 `, 'm'), out.stdout);
          assert.match(executor.networkFor!(network), /ignored, the narrower policy wins: network\.egress: `egress: internet` would widen the server's policy/);
        });

        it('proxy settings reach the step in upper and lower case', async () => {
          const { executor, spec } = make(
            policy({ proxy: { http: 'http://198.51.100.10:3128', https: 'http://198.51.100.10:3128', noProxy: ['localhost', '.internal'] } }),
          );

          const { out } = await runStep(executor, spec(`eg${runId}${kind}x`, { commands: ['env | grep -i _proxy= | sort'] }));

          for (const name of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy'])
            assert.match(out.stdout, new RegExp(`^${name}=http://198\\.51\\.100\\.10:3128$`, 'm'));
          for (const name of ['NO_PROXY', 'no_proxy']) assert.match(out.stdout, new RegExp(`^${name}=localhost,\\.internal$`, 'm'));
        });

        it('the rules live and die with the build network, and a sweep removes what a crash left', async () => {
          const { executor, spec } = make(policy());
          const buildId = `eg${runId}${kind}r`;
          // The rules are made under the key the build's network has (a claimed pool entry's, docs/pool.md).
          const keyOf = (b: string) => (executor instanceof DockerExecutor ? executor.workspaceKey(b) : Promise.resolve(b));
          await runStep(executor, spec(buildId, { commands: ['true'] }));
          const { tag } = egressNames(testInstanceId, await keyOf(buildId));
          assert.ok(iptablesSave().includes(tag), 'rules installed with the network');

          await executor.cleanupBuild(buildId);
          assert.ok(!iptablesSave().includes(tag), 'rules removed with the network');

          const crashed = `eg${runId}${kind}c`;
          await runStep(executor, spec(crashed, { commands: ['true'] }));
          const crashedTag = egressNames(testInstanceId, await keyOf(crashed)).tag;
          const reapBuilds = (executor as DockerExecutor | SwarmExecutor).reapBuilds.bind(executor);
          const cleaned = await reapBuilds((id) => id !== crashed);
          assert.ok(cleaned.includes(crashed));
          assert.ok(!iptablesSave().includes(crashedTag), 'a sweep removes rules of builds that are not live');
        });
      });
    }
  });
}

function iptablesSave(): string {
  return execFileSync('iptables-save', ['-t', 'filter']).toString();
}

/** The host's Bosun chains and jumps, bridges and routes: what a failed isolation assertion prints. */
function egressDiagnostics(): string {
  const run = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    } catch (err) {
      return `${cmd} failed: ${String(err)}`;
    }
  };
  const rules = iptablesSave()
    .split('\n')
    .filter((l) => /BOSUN|DOCKER-USER|^:FORWARD|^:INPUT/.test(l))
    .join('\n');
  return [`iptables (Bosun's chains and jumps):\n${rules}`, `bridges:\n${run('ip', ['-o', '-4', 'addr', 'show'])}`, `routes:\n${run('ip', ['route'])}`].join(
    '\n',
  );
}

/** A pooled executor whose `start` first waits for the pool's background refill, so a build finds a ready sandbox. */
function warmFirst(executor: DockerExecutor): DockerExecutor {
  return new Proxy(executor, {
    get(target, prop) {
      if (prop === 'start') {
        return async (spec: StepSpec) => {
          await target.warmPool?.settled();
          return target.start(spec);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
