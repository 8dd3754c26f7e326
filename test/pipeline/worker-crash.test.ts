import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { startWorkerProcess } from '../support/worker-process.js';

// R20: kill -9 a worker in the middle of step 2; another worker resumes the stage, step 1
// is not run again (a side-effect counter proves it), and the build finishes.
let h: Harness;
let dir: string;
const queue = { lockDurationMs: 1000, stalledIntervalMs: 500, maxStalledCount: 1, watchdogIntervalMs: 1000 };

before(async () => {
  // The server runs orchestration only (workers: 0); stage work goes to child processes.
  h = await startHarness({ workers: 0, queue });
  await h.server.close(); // restarted below with an advance-only worker pool
  dir = mkdtempSync(join(tmpdir(), 'bosun-crash-'));
});
after(async () => {
  await h?.redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startWorker(name: string): ChildProcess {
  const config = { queue, repos: { crashy: { url: `file://${join(dir, 'src-repos', 'crashy')}` } }, limits: { killGraceSec: 1 } };
  return startWorkerProcess({ redisUrl: h.redis.url, dir, name, config });
}

test('a worker killed with SIGKILL mid-step: the stage resumes on another worker and completed steps do not run again', async () => {
  const counter = join(dir, 'first-ran');
  const started = join(dir, 'second-started');
  await makeRepo(dir, 'crashy', {
    'bosun.yml': [
      'version: 1', 'image: any', 'stages:', '  test:', '    steps:',
      '      - name: first', `        run: echo ran >> ${counter}`,
      '      - name: second', '        run:', `          - touch ${started}`, `          - 'if [ "$(cat ${counter} | wc -l)" = 1 ] && [ ! -f ${started}.again ]; then touch ${started}.again; sleep 600; fi'`,
      '',
    ].join('\n'),
  });
  const { startServer } = await import('../../src/app/start-server.js');
  const { loadConfig } = await import('../../src/config.js');
  const { silentLogger } = await import('../../src/logger.js');
  const config = loadConfig({}, {
    dataDir: join(dir, 'server'), redisUrl: h.redis.url, http: { port: 0 }, workers: 0, queue, logLevel: 'silent',
    apiTokens: [{ name: 't', token: 'test-token-0123456789abcdef' }],
    repos: { crashy: { url: `file://${join(dir, 'src-repos', 'crashy')}` } },
  });
  const server = await startServer(config, silentLogger());
  const { startWorkerPool } = await import('../../src/app/start-worker-pool.js');
  const advance = await startWorkerPool(server.core, { advance: true, concurrency: 0, labels: [], executor: { name: 'local', start: () => { throw new Error('unused'); }, destroyRef: async () => undefined, reap: async () => [], cleanupBuild: async () => undefined, close: async () => undefined } as never });
  try {
    const w1 = startWorker('one');
    const res = await fetch(`${server.url}/api/builds`, {
      method: 'POST', headers: { authorization: 'Bearer test-token-0123456789abcdef', 'content-type': 'application/json' },
      body: JSON.stringify({ repo: 'crashy', ref: 'master' }),
    });
    const id = ((await res.json()) as { build: { id: string } }).build.id;

    const deadline = Date.now() + 150_000;
    while (!existsSync(`${started}.again`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(existsSync(`${started}.again`), 'step 2 started on the first worker');
    w1.kill('SIGKILL');
    const w2 = startWorker('two');
    try {
      let b = await server.core.store.require(id);
      while (b.status !== 'success' && b.status !== 'failed' && b.status !== 'failed_infra' && Date.now() < deadline + 30_000) {
        await new Promise((r) => setTimeout(r, 100));
        b = await server.core.store.require(id);
      }
      assert.equal(b.status, 'success', JSON.stringify(b.stages));
      assert.equal(readFileSync(counter, 'utf8').trim().split('\n').length, 1, 'step 1 ran exactly once');
      assert.equal(b.stages[0]!.steps[0]!.runs, 1);
      assert.equal(b.stages[0]!.steps[1]!.runs, 2, 'step 2 ran again after the crash');
    } finally {
      w2.kill('SIGTERM');
      await new Promise((r) => w2.once('exit', r));
    }
  } finally {
    await advance.close(true);
    await server.close();
  }
});
