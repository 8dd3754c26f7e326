import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Executor } from '../../src/executor/executor.js';
import { NetworkConfig } from '../../src/executor/container/egress-policy.js';
import { selectExecutor } from '../../src/executor/select-executor.js';
import { silentLogger } from '../../src/logger.js';
import { pushPayload } from '../fakes/fake-github-payloads.js';
import { engineForTests, testInstanceId } from '../executor/docker-harness.js';
import { egressWorldProblem, startEgressWorld, type EgressWorld } from '../support/egress-world.js';
import { makeRepo } from '../support/git-repo.js';
import { eventually, startGithubHarness, type GithubHarness } from './github-harness.js';

// Issue 12's proof that a build can do real work: a real project nobody here wrote — toolz, a
// pure-Python library, with its own test suite exactly as its published wheel ships it — whose
// tests need pytest, which the step installs by name from "the internet" (the egress stand-in
// world serving real wheels from the machine's pip mirror). A signed push webhook builds it on
// the docker executor under `network.egress: internet`: green, with a success commit status.
// Then pytest is taken off the index and the next push fails with pip's own error in the log.

const docker = await engineForTests(false);
const problem = egressWorldProblem();
/** The project under test, and what its tests need from the index (pytest and its dependencies). */
const project = 'toolz';
const testDependencies = ['pytest', 'iniconfig', 'packaging', 'pluggy', 'pygments'];
const repoName = 'pytoolz/toolz';
const pusher = { id: 4711, login: 'maintainer' };

const spec = [
  'version: 1',
  'image: bosun/base:bookworm',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: unit',
  '        timeout: 3m',
  '        run:',
  // The base image has python3 but no pip: fetch pip's own wheel from the index and run it.
  "          - python3 -c \"import urllib.request; urllib.request.urlretrieve('http://pypi.test/files/pip.whl', '/tmp/pip.whl')\"",
  '          - python3 /tmp/pip.whl/pip install --no-cache-dir --disable-pip-version-check --retries 0 --timeout 10 --index-url http://pypi.test/simple/ --trusted-host pypi.test --target /tmp/deps pytest',
  '          - PYTHONPATH=/tmp/deps PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -p no:cacheprovider -q toolz',
  '',
].join('\n');

/** The project's source as published: its wheel from the machine's pip mirror, unpacked. */
function unpackProject(into: string): void {
  const dl = mkdtempSync(join(tmpdir(), 'bosun-real-project-'));
  try {
    execFileSync('python3', ['-m', 'pip', 'download', '--quiet', '--retries', '0', '--no-deps', '--only-binary=:all:', '-d', dl, project], {
      stdio: 'pipe',
      timeout: 120_000,
    });
    const wheel = readdirSync(dl).find((f) => f.startsWith(`${project}-`) && f.endsWith('.whl'));
    if (!wheel) throw new Error(`no ${project} wheel in the local pip mirror`);
    execFileSync('python3', ['-m', 'zipfile', '-e', join(dl, wheel), join(dl, 'src')], { stdio: 'pipe' });
    cpSync(join(dl, 'src'), into, { recursive: true });
  } finally {
    rmSync(dl, { recursive: true, force: true });
  }
}

if (docker && problem) {
  it(`real project push tests skipped: ${problem}`, (t) => t.skip(problem));
}

if (docker && !problem) {
  const engine = docker;
  describe('a real project whose tests need a dependency from the index, built from a push webhook', { timeout: 600_000 }, () => {
    let world: EgressWorld;
    let g: GithubHarness;
    let executor: Executor | undefined;
    let repo: Awaited<ReturnType<typeof makeRepo>>;
    const builds: string[] = [];

    before(async () => {
      world = await startEgressWorld({ wheels: testDependencies });
      const instanceId = `${testInstanceId}rp`;
      const egress = NetworkConfig.parse({ dns: [world.dns] });
      g = await startGithubHarness(
        { instanceId, network: egress },
        {},
        {
          executorAsync: async (dataDir) =>
            (executor = await selectExecutor({ docker: engine, preferred: 'docker', instanceId, dataDir, log: silentLogger(), egress })),
        },
      );
      repo = await makeRepo(g.h.dataDir, 'toolz', { 'bosun.yml': spec });
      unpackProject(repo.dir);
      await repo.commit({}, `${project} as published, with its tests`);
      g.h.server.core.config.repos[repoName] = { url: repo.url, defaultBranch: 'master', secrets: [] };
      g.gh.addRepo(repoName, repo.dir);
    });

    after(async () => {
      // A failed build keeps its workspace (and network) for `retry --failed`: remove them here.
      for (const id of builds) await executor?.cleanupBuild(id).catch(() => undefined);
      await g?.stop();
      await world?.close();
    });

    /** Pushes a commit to master the way GitHub reports it, and waits for its build to finish. */
    async function push(message: string): Promise<{ sha: string; status: string; log: string; state: string }> {
      const before = (await g.h.server.core.store.list({ repo: repoName, limit: 100 })).length;
      const old = await g.gh.rev(repoName, 'refs/heads/master');
      const sha = await repo.commit({}, message);
      const res = await g.gh.deliver('push', pushPayload({ repo: repoName, ref: 'refs/heads/master', before: old, after: sha, sender: pusher }));
      assert.equal(res.status, 202, res.body);
      const [build] = await eventually(
        async () => (await g.h.server.core.store.list({ repo: repoName, limit: 100 })).filter((b) => b.sha === sha),
        (b) => b.length === 1,
        30_000,
      );
      assert.equal(build!.trigger.event, 'push');
      assert.equal((await g.h.server.core.store.list({ repo: repoName, limit: 100 })).length, before + 1);
      builds.push(build!.id);
      const done = await g.h.waitDone(build!.id, 240_000);
      const lines = await g.h.server.core.logs.tail(done.id, 'test', 'unit', 5000);
      const state =
        (await eventually(
          () => g.gh.latest(repoName, sha)['bosun/test'],
          (s) => s === 'success' || s === 'failure',
        )) ?? '';
      return { sha, status: done.status, log: lines.map((l) => l.text).join('\n'), state };
    }

    it("builds green: pip installs pytest from the index by name, and the project's own tests pass", async () => {
      const hitsBefore = world.hits(world.internet);

      const { status, log, state } = await push('build me');

      assert.equal(status, 'success', log);
      assert.match(log, /bosun: network egress=internet/);
      assert.match(log, /Successfully installed .*pytest-[\d.]+/, log);
      assert.match(log, /^\d{2,} passed in /m, log);
      assert.doesNotMatch(log, /\bfailed\b|\berror\b/i);
      assert.ok(world.hits(world.internet) > hitsBefore, 'the step fetched from the internet stand-in');
      assert.equal(state, 'success');
    });

    it("with pytest missing from the index, the next push fails with pip's own error and a failure status", async () => {
      world.withdraw('pytest');

      const { status, log, state } = await push('build me again');

      assert.equal(status, 'failed', log);
      assert.match(log, /ERROR: Could not find a version that satisfies the requirement pytest/, log);
      assert.match(log, /ERROR: No matching distribution found for pytest/, log);
      assert.doesNotMatch(log, / passed in /);
      assert.equal(state, 'failure');
    });
  });
}
