/**
 * What a stage cache saves (a measurement script, not a test; not part of `npm run bench`):
 *
 *   node --import tsx bench/cache-restore.ts [--rate-kib 2048] [--blob-mb 50]
 *
 * 1. `local` executor, real pip: a step runs `pip download` of two real wheels (Debian's pip and
 *    setuptools from /usr/share/python-wheels) from a PEP 503 index this script serves on
 *    127.0.0.1, throttled to `--rate-kib` KiB/s (a slow link to a package index), into
 *    `.cache/wheels`, unless the cache restored them. Build 1 misses (downloads, saves), build 2
 *    hits (skips the download). Printed: the install step's duration in each, and the restore
 *    line from the step log.
 * 2. `docker` executor (when an engine answers): a cache of `--blob-mb` MiB of random bytes,
 *    to show what a restore into a workspace volume costs at that size.
 */
import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import Docker from 'dockerode';
import { startHarness, type Harness } from '../test/support/bosun-harness.js';
import { makeRepo } from '../test/support/git-repo.js';
import { createBuild } from '../src/pipeline/create-build.js';
import { DockerExecutor } from '../src/executor/docker/docker-executor.js';
import { silentLogger } from '../src/logger.js';
import type { Build } from '../src/domain/build.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const rateKiB = arg('rate-kib', 2048);
const blobMb = arg('blob-mb', 50);
const wheels = ['/usr/share/python-wheels/pip-23.0.1-py3-none-any.whl', '/usr/share/python-wheels/setuptools-66.1.1-py3-none-any.whl'].filter((w) =>
  existsSync(w),
);

/** A PEP 503 index of `wheels`, each file sent at `rateKiB` KiB/s. */
function startIndex(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const project = /^\/simple\/([a-z0-9-]+)\/$/.exec(url)?.[1];
    if (project) {
      const links = wheels.filter((w) => basename(w).toLowerCase().startsWith(`${project}-`)).map((w) => `<a href="/files/${basename(w)}">${basename(w)}</a>`);
      res.writeHead(links.length ? 200 : 404, { 'content-type': 'text/html' }).end(`<html><body>${links.join('\n')}</body></html>`);
      return;
    }
    const file = wheels.find((w) => url === `/files/${basename(w)}`);
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size });
    const chunk = 64 * 1024;
    const stream = createReadStream(file, { highWaterMark: chunk });
    stream.on('data', (data) => {
      stream.pause();
      res.write(data);
      setTimeout(() => stream.resume(), (data.length / (rateKiB * 1024)) * 1000);
    });
    stream.on('end', () => res.end());
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` });
    }),
  );
}

function spec(image: string, install: string): string {
  return [
    'version: 1',
    `image: ${image}`,
    'stages:',
    '  test:',
    '    cache:',
    `      key: "deps-{{ hashFiles('requirements.txt') }}"`,
    '      paths: [.cache/wheels]',
    '    steps:',
    '      - name: install',
    `        run: ${JSON.stringify(install)}`,
    '',
  ].join('\n');
}

async function twoBuilds(h: Harness, repoName: string): Promise<void> {
  for (const round of ['first (cache empty)', 'second (same lockfile)']) {
    const { build } = await createBuild(h.server.core.deps, {
      repo: repoName,
      ref: 'master',
      trigger: { event: 'manual', source: 'cli', actor: { id: 'cli:bench', name: 'bench' } },
    });
    const done: Build = await h.waitDone(build!.id, 600_000);
    const step = done.stages[0]!.steps[0]!;
    const seconds = (Date.parse(step.finishedAt!) - Date.parse(step.startedAt!)) / 1000;
    const build_ = (Date.parse(done.finishedAt!) - Date.parse(done.startedAt ?? done.createdAt)) / 1000;
    const log = String((await h.api('GET', `/api/builds/${done.id}/logs/test/install`)).json);
    const save = String((await h.api('GET', `/api/builds/${done.id}/logs/test/cache:save`)).json);
    console.log(`  ${round}: ${done.status}; install step ${seconds.toFixed(2)} s, whole build ${build_.toFixed(2)} s`);
    for (const line of [...log.split('\n'), ...save.split('\n')].filter((l) => /^bosun: cache|^downloading|^cached/.test(l))) console.log(`    ${line}`);
  }
}

async function main(): Promise<void> {
  if (wheels.length === 0) throw new Error('no wheels in /usr/share/python-wheels (apt-get install python3-pip-whl)');
  const index = await startIndex();
  console.log(
    `pip download of ${wheels.map((w) => basename(w)).join(', ')} (${(wheels.reduce((s, w) => s + statSync(w).size, 0) / 2 ** 20).toFixed(1)} MiB) at ${rateKiB} KiB/s, local executor:`,
  );
  const local = await startHarness({});
  try {
    const install = `if [ -d .cache/wheels ]; then echo cached; else echo downloading; /usr/bin/python3 -m pip download -q --no-cache-dir --no-deps --only-binary :all: -d .cache/wheels -i ${index.url}/simple pip==23.0.1 setuptools==66.1.1; fi; ls .cache/wheels`;
    const repo = await makeRepo(local.dataDir, 'bench-pip', { 'bosun.yml': spec('any', install), 'requirements.txt': 'pip==23.0.1\nsetuptools==66.1.1\n' });
    local.server.core.config.repos['bench-pip'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
    await twoBuilds(local, 'bench-pip');
  } finally {
    await local.stop();
    index.server.close();
  }

  const docker = new Docker();
  if (
    !(await docker.ping().then(
      () => true,
      () => false,
    ))
  )
    return;
  const instanceId = `bench-cache-${process.pid}`;
  console.log(`\na ${blobMb} MiB cache restored into a workspace volume, docker executor:`);
  const h = await startHarness({ instanceId }, { executor: () => new DockerExecutor({ docker, instanceId, log: silentLogger() }) });
  try {
    const install = `if [ -d .cache/wheels ]; then echo cached; else echo downloading; mkdir -p .cache/wheels; head -c ${blobMb}M /dev/urandom > .cache/wheels/blob; fi`;
    const repo = await makeRepo(h.dataDir, 'bench-blob', { 'bosun.yml': spec('bosun/base:bookworm', install), 'requirements.txt': 'x\n' });
    h.server.core.config.repos['bench-blob'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
    await twoBuilds(h, 'bench-blob');
  } finally {
    await h.stop();
    const volumes = await docker.listVolumes({ filters: JSON.stringify({ label: [`bosun.instance=${instanceId}`] }) });
    for (const v of volumes.Volumes ?? [])
      await docker
        .getVolume(v.Name)
        .remove()
        .catch(() => undefined);
  }
}

await main();
