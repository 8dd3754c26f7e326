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
import { startHarness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { selectExecutor } from '../../src/executor/select-executor.js';

// Egress under a policy (docs/network.md), for real: a stand-in internet, private host and
// metadata service in a network namespace (test/support/egress-world.ts), steps on the docker
// and swarm executors. Both executors in one file: the world's addresses exist once per machine.

const docker = await engineForTests(true);
const problem = egressWorldProblem();

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
const probe = `python3 -c '${probeScript}'`;

/** Fetch pip from the index by name, then `pip download` a package by name through it. */
const pipDownload = (indexUrl: string, pkg: string): string[] => [
  "python3 -c \"import urllib.request; urllib.request.urlretrieve('http://pypi.test/files/pip.whl', '/tmp/pip.whl')\"",
  `python3 /tmp/pip.whl/pip download --no-cache-dir --disable-pip-version-check --retries 0 --timeout 5 --index-url ${indexUrl} --trusted-host pypi.test -d /tmp/dl ${pkg}`,
];

if (docker && problem) {
  it(`egress tests skipped: ${problem}`, (t) => t.skip(problem));
}

if (docker && !problem) {
  const engine = docker;
  describe('step egress under a policy', { timeout: 1_200_000 }, () => {
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

    // dsbx, ssbx: docker and swarm with `sandbox: stage` (the steps exec'd in a sandbox on the build's network);
    // dpool: dsbx with a warm pool (docs/pool.md), each start waiting for the pool first so that builds claim.
    for (const kind of ['docker', 'swarm', 'dsbx', 'ssbx', 'dpool'] as const) {
      const make = (egress: NetworkConfig): { executor: Executor; spec: (buildId: string, over?: Partial<StepSpec>) => StepSpec } => {
        const common = {
          docker: engine,
          instanceId: testInstanceId,
          log: silentLogger(),
          timeoutGraceMs: 2000,
          egress,
          sandbox: kind === 'docker' || kind === 'swarm' ? ('step' as const) : ('stage' as const),
        };
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
            assert.deepEqual(open, [], out.stdout);
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

if (docker && !problem) {
  const engine = docker;
  describe('a build whose tests need a dependency from the index', { timeout: 600_000 }, () => {
    let world: EgressWorld;
    before(async () => {
      world = await startEgressWorld();
    });
    after(async () => {
      await world?.close();
    });

    // A small project: its tests import `six`, which a step installs from the index by name.
    const project = (dependency: string): Record<string, string> => ({
      'bosun.yml': [
        'version: 1',
        'image: bosun/base:bookworm',
        'stages:',
        '  test:',
        '    steps:',
        '      - name: unit',
        '        run:',
        "          - python3 -c \"import urllib.request; urllib.request.urlretrieve('http://pypi.test/files/pip.whl', '/tmp/pip.whl')\"",
        `          - python3 /tmp/pip.whl/pip install --no-cache-dir --disable-pip-version-check --retries 0 --index-url http://pypi.test/simple/ --trusted-host pypi.test --target /tmp/deps ${dependency}`,
        '          - PYTHONPATH=/tmp/deps python3 -m unittest discover -s tests -v',
        '',
      ].join('\n'),
      'tests/test_six.py':
        'import unittest\nimport six\n\nclass T(unittest.TestCase):\n    def test_text_type(self):\n        self.assertIs(six.text_type, str)\n',
    });

    for (const [name, dependency, status, expected] of [
      ['with the dependency on the index: green, the policy line first in the log', 'six', 'success', /test_text_type .* ok/],
      [
        "with the dependency missing from the index: failed with pip's own error",
        'six-missing-dependency',
        'failed',
        /No matching distribution found for six-missing-dependency/,
      ],
    ] as const) {
      it(name, async () => {
        const egress = NetworkConfig.parse({ dns: [world.dns] });
        const instanceId = `${testInstanceId}p`;
        let executor: Executor | undefined;
        let buildId: string | undefined;
        const h = await startHarness(
          { instanceId, network: egress },
          {
            executorAsync: async (dataDir) =>
              (executor = await selectExecutor({ docker: engine, preferred: 'docker', instanceId, dataDir, log: silentLogger(), egress })),
          },
        );
        try {
          const repo = await makeRepo(h.dataDir, 'app', project(dependency));
          h.server.core.config.repos.app = { url: repo.url, defaultBranch: 'master', secrets: [] };

          const res = await h.api('POST', '/api/builds', { repo: 'app', ref: 'master' });
          buildId = res.json.build.id as string;
          const b = await h.waitDone(buildId, 240_000);
          const log = await h.api('GET', `/api/builds/${b.id}/logs/test/unit`);
          const text = JSON.stringify(log.json);

          assert.equal(b.status, status, text);
          assert.match(text, /bosun: network egress=internet \(this host, link-local incl\. 169\.254\.169\.254 and other builds are blocked/);
          assert.ok(text.indexOf('bosun: network egress=') < text.indexOf('+ python3'), "the policy comes before the step's own output");
          assert.match(text, expected);
        } finally {
          await h.stop();
          // A failed build keeps its workspace (and network) for `retry --failed`: remove them here.
          if (buildId) await executor?.cleanupBuild(buildId);
        }
      });
    }
  });
}

if (docker && !problem) {
  const engine = docker;
  describe("a repository narrows the server's policy from bosun.yml (docker executor, through the pipeline)", { timeout: 600_000 }, () => {
    let world: EgressWorld;
    before(async () => {
      world = await startEgressWorld();
    });
    after(async () => {
      await world?.close();
    });

    const specWith = (network: string[], commands: string[]): string =>
      [
        'version: 1',
        'image: bosun/base:bookworm',
        ...network,
        'stages:',
        '  test:',
        '    steps:',
        '      - name: unit',
        '        run:',
        ...commands.map((c) => `          - ${c}`),
        '',
      ].join('\n');

    it('a narrowing runs under it (the log says so), its stage services on the same narrowed network; a widening fails the build at its line before anything runs', async () => {
      // The server lets steps reach the whole stand-in internet on port 80; the repository only the index host.
      const egress = NetworkConfig.parse({ egress: 'allowlist', allow: ['198.51.100.0/24:80'], dns: [world.dns] });
      const instanceId = `${testInstanceId}n`;
      let executor: Executor | undefined;
      const builds: string[] = [];
      const h = await startHarness(
        { instanceId, network: egress },
        {
          executorAsync: async (dataDir) =>
            (executor = await selectExecutor({ docker: engine, preferred: 'docker', instanceId, dataDir, log: silentLogger(), egress })),
        },
      );
      try {
        const narrowed = await makeRepo(h.dataDir, 'narrow', {
          'bosun.yml': specWith(
            ['network:', '  egress: allowlist', `  allow: ["${world.internet}:80"]`],
            [
              ...pipDownload(world.indexUrl, 'six'),
              `python3 -c 'import socket, sys; sys.exit(0 if socket.create_connection(("${world.elsewhere}", 80), timeout=3) else 1)' && exit 1 || echo "elsewhere refused"`,
            ],
          ),
        });
        const widened = await makeRepo(h.dataDir, 'widen', { 'bosun.yml': specWith(['network:', '  egress: internet'], ['echo never']) });
        h.server.core.config.repos.narrow = { url: narrowed.url, defaultBranch: 'master', secrets: [] };
        h.server.core.config.repos.widen = { url: widened.url, defaultBranch: 'master', secrets: [] };
        const before = world.hits(world.elsewhere);

        const ok = await h.api('POST', '/api/builds', { repo: 'narrow', ref: 'master' });
        builds.push(ok.json.build.id as string);
        const green = await h.waitDone(ok.json.build.id as string, 240_000);
        const log = JSON.stringify((await h.api('GET', `/api/builds/${green.id}/logs/test/unit`)).json);

        assert.equal(green.status, 'success', log);
        assert.match(
          log,
          /bosun: network egress=allowlist \(allowed: 198\.51\.100\.10:80, and DNS;.*\[narrowed by bosun\.yml from the server's egress=allowlist\]/,
        );
        assert.match(log, /Saved \/tmp\/dl\/six-/);
        assert.match(log, /elsewhere refused/);
        assert.equal(world.hits(world.elsewhere), before, 'the server would let it through; the repository did not');

        const bad = await h.api('POST', '/api/builds', { repo: 'widen', ref: 'master' });
        builds.push(bad.json.build.id as string);
        const failed = await h.waitDone(bad.json.build.id as string, 120_000);

        assert.equal(failed.status, 'failed');
        assert.equal(failed.error?.code, 'spec_invalid');
        assert.equal(
          failed.error?.message,
          "bosun.yml:4:11 network.egress: `egress: internet` would widen the server's policy (server config network.egress is allowlist); a repository may only narrow it",
        );
        assert.equal(failed.stages.length, 0, 'nothing ran');

        // A stage's service joins the build's narrowed network: the step reaches it by name, the
        // index host still, and no more than before.
        const withService = await makeRepo(h.dataDir, 'svc', {
          'bosun.yml': [
            'version: 1',
            'image: bosun/redis-test:7',
            'network:',
            '  egress: allowlist',
            `  allow: ["${world.internet}:80"]`,
            'stages:',
            '  test:',
            '    services:',
            '      cache:',
            '        image: bosun/redis-test:7',
            '        ready: { run: redis-cli ping, interval: 1s, timeout: 60s }',
            '    steps:',
            '      - name: unit',
            '        run:',
            '          - redis-cli -h cache ping',
            `          - python3 -c 'import urllib.request; print("index", urllib.request.urlopen("http://pypi.test/simple/", timeout=5).status)'`,
            `          - python3 -c 'import socket, sys; sys.exit(0 if socket.create_connection(("${world.elsewhere}", 80), timeout=3) else 1)' && exit 1 || echo "elsewhere refused"`,
            '',
          ].join('\n'),
        });
        h.server.core.config.repos.svc = { url: withService.url, defaultBranch: 'master', secrets: [] };
        const svc = await h.api('POST', '/api/builds', { repo: 'svc', ref: 'master' });
        builds.push(svc.json.build.id as string);
        const svcBuild = await h.waitDone(svc.json.build.id as string, 240_000);
        const svcLog = JSON.stringify((await h.api('GET', `/api/builds/${svcBuild.id}/logs/test/unit`)).json);

        assert.equal(svcBuild.status, 'success', svcLog);
        assert.match(svcLog, /PONG/);
        assert.match(svcLog, /index 200/);
        assert.match(svcLog, /elsewhere refused/);
        assert.equal(world.hits(world.elsewhere), before);
      } finally {
        await h.stop();
        for (const b of builds) await executor?.cleanupBuild(b).catch(() => undefined);
      }
    });
  });
}

function iptablesSave(): string {
  return execFileSync('iptables-save', ['-t', 'filter']).toString();
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
