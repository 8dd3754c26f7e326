import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, testToken } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { silentLogger } from '../../src/logger.js';
import { describeBuild } from '../../commands/describe-build.js';
import { runCli } from '../../src/cli/run-cli.js';
import { manager, registry, requireTwoNodes, setNodeLabel, type TwoNodes } from './two-node-support.js';

// Issue 15's done-when on the real two-node swarm: stage `build` on node A makes dist/app.whl,
// stage `check` on node B sees it (its workspace image carries the needed artifacts), and
// `bosun artifacts` downloads it with the sha256 the build recorded; a file made on node B is
// collected from node B's volume.
const instanceId = `mnart${process.pid}`;
let nodes: TwoNodes | undefined;
let dir = '';
before(async () => {
  nodes = await requireTwoNodes();
  dir = mkdtempSync(join(tmpdir(), 'bosun-mnart-'));
});
after(async () => {
  if (nodes) {
    await setNodeLabel(nodes.managerId, 'bosun.artzone', undefined).catch(() => undefined);
    await setNodeLabel(nodes.node2Id, 'bosun.artzone', undefined).catch(() => undefined);
  }
  const left = await manager.listImages({ filters: JSON.stringify({ label: [`bosun.instance=${instanceId}`] }) }).catch(() => []);
  for (const image of left)
    await manager
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('an artifact made on node A reaches a needing stage on node B and downloads with a matching sha256', async (t) => {
  if (!nodes) return t.skip('no two-node swarm');
  const { managerId, node2Id } = nodes;
  await setNodeLabel(managerId, 'bosun.artzone', 'a');
  await setNodeLabel(node2Id, 'bosun.artzone', 'b');
  const repo = await makeRepo(dir, 'app', {
    'bosun.yml': [
      'version: 1',
      'image: bosun/base:bookworm',
      'stages:',
      '  build:',
      '    labels: [zone-a]',
      '    steps:',
      '      - name: wheel',
      '        run: [mkdir -p dist, "head -c 50000 /dev/urandom > dist/app.whl", sha256sum dist/app.whl]',
      '        artifacts: [dist/*.whl]',
      '  check:',
      '    labels: [zone-b]',
      '    needs: [build]',
      '    artifacts: [report/*]',
      '    steps:',
      '      - name: see',
      '        run: [sha256sum dist/app.whl, mkdir -p report, echo from-b > report/b.txt]',
      '',
    ].join('\n'),
  });
  const h = await startHarness(
    {
      instanceId,
      repos: { app: { url: repo.url } },
      swarm: { registry, placement: { 'zone-a': ['node.labels.bosun.artzone==a'], 'zone-b': ['node.labels.bosun.artzone==b'] } },
      limits: { killGraceSec: 2 },
    },
    {
      executor: () => new SwarmExecutor({ docker: manager, instanceId, log: silentLogger(), timeoutGraceMs: 2000, registry }),
    },
  );
  try {
    const res = await h.api('POST', '/api/builds', { repo: 'app', ref: 'master' });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    const b = await h.waitDone(res.json.build.id, 300_000);
    const logOf = async (stage: string, step: string) => String((await h.api('GET', `/api/builds/${b.id}/logs/${stage}/${step}`)).json);
    assert.equal(b.status, 'success', `${describeBuild(b)}\n${await logOf('build', 'wheel')}\n${await logOf('check', 'see')}`);
    const ran = Object.fromEntries(b.stages.flatMap((s) => s.steps.map((st) => [`${s.name}/${st.name}`, st.node?.id])));
    assert.deepEqual(ran, { 'build/wheel': managerId, 'check/see': node2Id });

    const recorded = b.artifacts?.find((f) => f.path === 'dist/app.whl');
    assert.ok(recorded, 'the build recorded dist/app.whl');
    assert.equal(recorded.size, 50000);
    // What the step itself computed on node A, and what the stage on node B computed, match the record.
    assert.match(await logOf('build', 'wheel'), new RegExp(`^${recorded.sha256}  dist/app\\.whl$`, 'm'));
    const seen = await logOf('check', 'see');
    assert.match(seen, new RegExp(`^${recorded.sha256}  dist/app\\.whl$`, 'm'), seen);
    assert.match(seen, /brought 1 artifact of build into the workspace: dist\/app\.whl/);

    // A file made on node B is read there (a one-shot service on that node) and kept too.
    assert.deepEqual(
      b.artifacts?.filter((f) => f.stage === 'check').map((f) => [f.path, f.sha256]),
      [['report/b.txt', createHash('sha256').update('from-b\n').digest('hex')]],
    );

    const cwd = mkdtempSync(join(dir, 'cli-'));
    let text = '';
    const code = await runCli({
      argv: ['--url', h.url, '--token', testToken, 'artifacts', b.id, '--get', 'dist/app.whl'],
      env: {},
      cwd,
      stdout: { write: (s: string) => void (text += s) },
      stderr: { write: (s: string) => void (text += s) },
      readStdin: async () => '',
    });
    assert.equal(code, 0, text);
    assert.equal(
      createHash('sha256')
        .update(readFileSync(join(cwd, 'app.whl')))
        .digest('hex'),
      recorded.sha256,
    );
    t.diagnostic(`dist/app.whl sha256 ${recorded.sha256}: recorded, seen on node B, downloaded`);
  } finally {
    await h.stop();
  }
});
