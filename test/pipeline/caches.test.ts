import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { LocalExecutor } from '../../src/executor/local/local-executor.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import type { Executor } from '../../src/executor/executor.js';
import { git } from '../../src/git/git.js';
import { createBuild } from '../../src/pipeline/create-build.js';
import { silentLogger } from '../../src/logger.js';
import type { Build, Trigger } from '../../src/domain/build.js';
import { FakeExecutor } from '../fakes/fake-executor.js';
import { join } from 'node:path';
import { pack as tarPack } from 'tar-stream';
import { CacheStore } from '../../src/cache/cache-store.js';
import { branchScope } from '../../src/cache/cache-scope.js';
import { gitCommitFiles, renderCacheKey } from '../../src/cache/cache-key.js';
import { baseImage, engineForTests, sweepInstance, testInstanceId } from '../executor/docker-harness.js';

// Issue 15 part 2 end to end: `cache:` restores before the first step and saves after the stage
// succeeds, on every executor that can reach its workspaces. A second build with an unchanged
// lockfile hits (its "download" is skipped); a changed lockfile gets a partial hit through a
// restore key; an untrusted pull request's poisoned cache is never what a trusted build
// restores; a symlink out of the workspace is never saved; a multi-node swarm refuses `cache:`.

/** The "install" step: downloads (writes the lockfile and a marker into the cache) only when the cache lacks it. */
function spec(image: string, marker: string, extra: string[] = []): string {
  return [
    'version: 1',
    `image: ${image}`,
    'stages:',
    '  test:',
    '    cache:',
    `      key: "deps-{{ hashFiles('requirements.txt') }}"`,
    '      paths: [.cache/deps]',
    '      restore-keys: [deps-]',
    '    steps:',
    '      - name: install',
    '        run:',
    `          - 'if [ -f .cache/deps/pkg.txt ]; then echo "using cached: $(cat .cache/deps/pkg.txt | tr "\\n" " ")"; else echo "downloading"; mkdir -p .cache/deps; cat requirements.txt > .cache/deps/pkg.txt; echo ${marker} >> .cache/deps/pkg.txt; fi'`,
    ...extra,
    '      - name: check',
    '        run: test -f .cache/deps/pkg.txt',
    '',
  ].join('\n');
}

const engine = await engineForTests(true);
const executors: { name: string; image: string; make(dataDir: string): Executor }[] = [
  { name: 'local', image: 'any', make: (dataDir) => new LocalExecutor({ instanceId: testInstanceId, dataDir, log: silentLogger(), timeoutGraceMs: 2000 }) },
  ...(engine
    ? [
        {
          name: 'docker',
          image: baseImage,
          make: () => new DockerExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 }),
        },
        {
          name: 'swarm',
          image: baseImage,
          make: () => new SwarmExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 }),
        },
        // `sandbox: stage` (docs/sandbox.md): the same pipeline, each stage's steps exec'd in one sandbox.
        {
          name: 'docker-sbx',
          image: baseImage,
          make: () => new DockerExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' as const }),
        },
        // With a warm pool (docs/pool.md): a build without a cache hit claims a warm sandbox, one with a hit runs cold.
        {
          name: 'docker-pool',
          image: baseImage,
          make: () =>
            new DockerExecutor({
              docker: engine,
              instanceId: testInstanceId,
              log: silentLogger(),
              timeoutGraceMs: 2000,
              sandbox: 'stage' as const,
              pool: { size: 1, images: [baseImage], idleSec: 600, limits: { cpus: 1, memoryBytes: 1024 * 2 ** 20, pids: 512 } },
            }),
        },
        {
          name: 'swarm-sbx',
          image: baseImage,
          make: () => new SwarmExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' as const }),
        },
      ]
    : []),
];

for (const e of executors) {
  describe(`stage caches: ${e.name}`, { timeout: 600_000 }, () => {
    let h: Harness;
    let repo: Awaited<ReturnType<typeof makeRepo>>;
    const repoName = `cache-${e.name}`;
    const actor = { id: 'github:5', name: 'someone' };

    before(async () => {
      // The executors' instance id (their volumes are named after it); test-only: production shares config's.
      h = await startHarness({ instanceId: testInstanceId }, { executor: e.make });
      repo = await makeRepo(h.dataDir, repoName, { 'bosun.yml': spec(e.image, 'clean'), 'requirements.txt': 'requests==2.31\n' });
      h.server.core.config.repos[repoName] = { url: repo.url, defaultBranch: 'master', secrets: [] };
    });
    after(async () => {
      await h?.stop();
      if (engine) await sweepInstance(engine as Docker);
    });

    const log = async (b: Build, step: string): Promise<string> => String((await h.api('GET', `/api/builds/${b.id}/logs/test/${step}`)).json);
    const build = async (ref: string, trigger: Partial<Trigger> = {}): Promise<Build> => {
      const { build: created } = await createBuild(h.server.core.deps, {
        repo: repoName,
        ref,
        trigger: { event: 'push', source: 'github', actor, ...trigger },
      });
      const done = await h.waitDone(created!.id, 240_000);
      assert.equal(done.status, 'success', JSON.stringify(done.stages, null, 1));
      return done;
    };

    it('an untrusted pull request saves a poisoned cache in its own namespace only; the trusted build misses it and saves a clean one', async () => {
      // The fork changes the step to write poison under the key master will compute (same lockfile).
      await repo.commit({ 'bosun.yml': spec(e.image, 'POISON') }, 'poison the cache', 'evil');
      await git(['checkout', '-q', 'master'], { cwd: repo.dir });
      const fork = await build('evil', { event: 'pull_request', pullRequest: 7, untrusted: true, baseRef: 'master' });
      const forkLog = await log(fork, 'install');
      assert.match(forkLog, /bosun: cache deps-[0-9a-f]{32}: miss/);
      assert.match(forkLog, /untrusted build: reads untrusted\/pr-7, trusted\/branch-master-[0-9a-f]+; saves only to untrusted\/pr-7/);
      assert.match(await log(fork, 'cache:save'), /saved .* to untrusted\/pr-7/);

      const trusted = await build('master');
      const installLog = await log(trusted, 'install');
      assert.match(installLog, /bosun: cache deps-[0-9a-f]{32}: miss/, 'the poisoned cache (same key) is not restored');
      assert.match(installLog, /^downloading$/m);
      assert.doesNotMatch(installLog, /POISON/);
      assert.match(await log(trusted, 'cache:save'), /saved .* to trusted\/branch-master-/);

      // A trusted build of the same pull request number reads its own trusted namespace, never the fork's.
      const trustedPr = await build('master', { event: 'pull_request', pullRequest: 7, baseRef: 'master' });
      assert.match(await log(trustedPr, 'install'), /: hit \(trusted\/branch-master-[0-9a-f]+\)(?:.*\n)+using cached: requests==2\.31 clean $/m);

      // The fork's next build restores its own (poisoned) cache: it exists, trusted builds just never read it.
      const forkAgain = await build('evil', { event: 'pull_request', pullRequest: 7, untrusted: true, baseRef: 'master' });
      assert.match(await log(forkAgain, 'install'), /hit \(untrusted\/pr-7\).*\n(?:.*\n)*using cached: requests==2\.31 POISON/);
    });

    it('a second build with an unchanged lockfile restores the cache: hit printed, the download skipped, nothing saved', async () => {
      const second = await build('master');
      const installLog = await log(second, 'install');
      assert.match(installLog, /bosun: cache deps-[0-9a-f]{32}: hit \(trusted\/branch-master-[0-9a-f]+\), restored [0-9.]+ (?:B|KiB) in [0-9.]+ s/);
      assert.match(installLog, /^using cached: requests==2\.31 clean $/m);
      assert.doesNotMatch(installLog, /^downloading$/m);
      assert.match(await log(second, 'cache:save'), /not saved \(it was restored as it is\)/);
    });

    it('a changed lockfile gets a partial hit through the restore key, and saves under its new key', async () => {
      await repo.commit({ 'requirements.txt': 'requests==2.32\n' }, 'bump', 'master');
      const bumped = await build('master');
      const installLog = await log(bumped, 'install');
      assert.match(installLog, /bosun: cache (deps-[0-9a-f]{32}): partial hit on deps-[0-9a-f]{32} \(restore key deps-, trusted\/branch-master-[0-9a-f]+\)/);
      assert.match(await log(bumped, 'cache:save'), /saved .* to trusted\/branch-master-/);
      const again = await build('master');
      assert.match(await log(again, 'install'), /: hit \(trusted/);
    });

    it("a pull request from a trusted branch reads its base branch's cache and writes only its own namespace", async () => {
      await repo.commit({ 'notes.txt': 'x' }, 'feature', 'feature');
      const prBuild = await build('feature', { event: 'pull_request', pullRequest: 9, baseRef: 'master' });
      assert.match(await log(prBuild, 'install'), /: hit \(trusted\/branch-master-/);
      await git(['checkout', '-q', 'master'], { cwd: repo.dir });
    });

    it('a symlink out of the workspace is never saved, and the build still succeeds', async () => {
      const link = ['      - name: plant', '        run: ln -sf /etc/passwd .cache/deps/passwd'];
      await repo.commit({ 'bosun.yml': spec(e.image, 'clean', link), 'requirements.txt': 'requests==2.33\n' }, 'plant a link', 'linky');
      const planted = await build('linky');
      const saveLog = await log(planted, 'cache:save');
      assert.match(saveLog, /not saved: \.cache\/deps\/passwd is a symlink to \/etc\/passwd, outside the workspace/);
      await git(['checkout', '-q', 'master'], { cwd: repo.dir });
    });
  });
}

for (const e of executors) {
  describe(`stage caches under ~: ${e.name}`, { timeout: 300_000 }, () => {
    let h: Harness;
    const repoName = `cache-home-${e.name}`;
    before(async () => {
      h = await startHarness({ instanceId: testInstanceId }, { executor: e.make });
      const home = [
        'version: 1',
        `image: ${e.image}`,
        'stages:',
        '  test:',
        `    cache: { key: "home-{{ hashFiles('requirements.txt') }}", paths: [~/.cache/deps] }`,
        '    steps:',
        '      - name: install',
        `        run: 'if [ -f "$HOME/.cache/deps/pkg.txt" ]; then echo "using cached: $(cat "$HOME/.cache/deps/pkg.txt")"; else echo "downloading"; mkdir -p "$HOME/.cache/deps"; cat requirements.txt > "$HOME/.cache/deps/pkg.txt"; fi'`,
        '      - name: later',
        `        run: ['test -f "$HOME/.cache/deps/pkg.txt"', 'echo "home=$HOME"', 'st=$(git status --porcelain)', 'echo "status=[$st]"']`,
        '',
      ].join('\n');
      const repo = await makeRepo(h.dataDir, repoName, { 'bosun.yml': home, 'requirements.txt': 'flask==3\n' });
      h.server.core.config.repos[repoName] = { url: repo.url, defaultBranch: 'master', secrets: [] };
    });
    after(async () => {
      await h?.stop();
      if (engine) await sweepInstance(engine as Docker);
    });
    const log = async (b: Build, step: string): Promise<string> => String((await h.api('GET', `/api/builds/${b.id}/logs/test/${step}`)).json);
    const build = async (): Promise<Build> => {
      const res = await h.api('POST', '/api/builds', { repo: repoName, ref: 'master' });
      const done = await h.waitDone(res.json.build.id, 240_000);
      assert.equal(done.status, 'success', JSON.stringify(done.stages, null, 1));
      return done;
    };

    it("~/ paths: the stage's steps share a HOME kept in the workspace (git status stays clean), and the next build restores it", async () => {
      const first = await build();
      const firstLog = await log(first, 'install');
      assert.match(firstLog, /HOME is \.git\/bosun-home in the workspace for this stage's steps/);
      assert.match(firstLog, /^downloading$/m);
      const later = await log(first, 'later');
      assert.match(later, /^home=.*\/\.git\/bosun-home$/m, 'a later step of the stage sees the same HOME');
      assert.match(later, /^status=\[\]$/m, 'git status stays clean');
      assert.match(await log(first, 'cache:save'), /saved .* to trusted\//);
      const second = await build();
      const secondLog = await log(second, 'install');
      assert.match(secondLog, /: hit \(trusted\//);
      assert.match(secondLog, /^using cached: flask==3$/m);
    });
  });
}

describe('stage caches: bad archives and the size cap', { timeout: 300_000 }, () => {
  let h: Harness;
  let repo: Awaited<ReturnType<typeof makeRepo>>;
  const repoName = 'cache-bad';
  before(async () => {
    h = await startHarness({ caches: { maxRepoMb: 1 } });
    repo = await makeRepo(h.dataDir, repoName, { 'bosun.yml': spec('any', 'clean'), 'requirements.txt': 'requests==2.31\n' });
    h.server.core.config.repos[repoName] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  });
  after(async () => {
    await h?.stop();
  });
  const log = async (b: Build, step: string): Promise<string> => String((await h.api('GET', `/api/builds/${b.id}/logs/test/${step}`)).json);
  const build = async (): Promise<Build> => {
    const res = await h.api('POST', '/api/builds', { repo: repoName, ref: 'master' });
    const done = await h.waitDone(res.json.build.id, 120_000);
    assert.equal(done.status, 'success', JSON.stringify(done.stages, null, 1));
    return done;
  };

  it('a cache in the store holding a symlink out of the workspace is refused whole: nothing restored, the steps run without it', async () => {
    // What a tampered store could hold: a good file first, then a link to the host's /etc/passwd.
    const { key } = await renderCacheKey("deps-{{ hashFiles('requirements.txt') }}", gitCommitFiles(repo.dir, 'HEAD'));
    const store = new CacheStore(join(h.dataDir, 'caches'), 2 ** 20);
    const archive = tarPack();
    archive.entry({ name: '.cache/deps/pkg.txt', mode: 0o644 }, 'requests==2.31\nstale\n');
    archive.entry({ name: '.cache/deps/passwd', type: 'symlink', linkname: '/etc/passwd' });
    archive.finalize();
    await store.save(repoName, `trusted/${branchScope('master')}`, key, archive);

    const b = await build();
    const installLog = await log(b, 'install');
    assert.match(
      installLog,
      /restoring deps-[0-9a-f]+ failed \(cache refused: \.cache\/deps\/passwd is a symlink to \/etc\/passwd, outside the workspace\); the steps run without it/,
    );
    assert.match(installLog, /^downloading$/m, 'not even the good entry before it was restored');
  });

  it("a cache over the repository's size cap is not saved, and the build still succeeds", async () => {
    await repo.commit(
      { 'requirements.txt': 'big==1\n', 'bosun.yml': spec('any', 'clean', ['      - name: grow', '        run: head -c 1500000 /dev/zero > .cache/deps/big']) },
      'grow',
    );
    const b = await build();
    assert.match(await log(b, 'cache:save'), /not saved: more than 1\.0 MiB \(the repository's cache size limit\)/);
  });
});

describe('stage caches on a multi-node swarm', () => {
  it('are refused before the first step runs, saying why and what to do', async () => {
    // A swarm worker with `swarm.registry` set: steps land on nodes whose volumes Bosun cannot reach.
    const executor = new FakeExecutor('swarm');
    const h = await startHarness({ swarm: { registry: '127.0.0.1:5000' }, network: { egress: 'none' } }, { executor: () => executor });
    try {
      const repo = await makeRepo(h.dataDir, 'cache-multi', { 'bosun.yml': spec('any', 'x'), 'requirements.txt': 'a\n' });
      h.server.core.config.repos['cache-multi'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
      const res = await h.api('POST', '/api/builds', { repo: 'cache-multi', ref: 'master' });
      const b = await h.waitDone(res.json.build.id, 60_000);
      assert.equal(b.status, 'failed');
      const [install, check] = b.stages[0]!.steps;
      assert.deepEqual([install!.status, install!.reason, check!.status], ['failed', 'cache_refused', 'skipped']);
      assert.match(
        String((await h.api('GET', `/api/builds/${b.id}/logs/test/install`)).json),
        /the step did not run: cache: is not available with this executor: a multi-node swarm/,
      );
      assert.equal(executor.started.length, 0, 'no step was started');
    } finally {
      await h.stop();
    }
  });
});
