import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Executor } from '../../src/executor/executor.js';
import { NetworkConfig } from '../../src/executor/container/egress-policy.js';
import { silentLogger } from '../../src/logger.js';
import { testInstanceId } from './docker-harness.js';
import { startEgressWorld, type EgressWorld } from '../support/egress-world.js';
import { startHarness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { selectExecutor } from '../../src/executor/select-executor.js';
import { describeEgressPolicy, docker, pipDownload, problem } from './egress-cases.js';

// Egress under a policy (docs/network.md), for real: the policy cases on the docker executor
// (egress-swarm.test.ts runs them on swarm, egress-pool.test.ts with a warm pool), then builds
// through the pipeline.

if (docker && problem) {
  it(`egress tests skipped: ${problem}`, (t) => t.skip(problem));
}

describeEgressPolicy(['docker', 'dsbx']);

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
