import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSlackBed, type SlackBed } from './slack-test-bed.js';
import { makeRepo } from '../../support/git-repo.js';
import { git } from '../../../src/git/git.js';
import { DeployStore } from '../../../src/deploys/deploy-store.js';
import { actionIds } from '../../../src/chat/slack/render-build.js';
import type { Build } from '../../../src/domain/build.js';

// `/ci deploy` to an environment with approvers, end to end through the fake Slack: the card in
// the approvers' channel names the environment, lists the commits since what runs there (from a
// real git repository, escaped), shows the deployed build's stages, and both buttons ask for
// confirmation. The deploy target never runs: the approval is rejected.
let bed: SlackBed;
let shas: string[] = [];
const digest = (c: string) => `sha256:${c.repeat(64)}`;

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bosun-deploy-card-'));
  const repo = await makeRepo(root, 'shop', { 'README.md': 'shop\n' });
  shas = [(await git(['rev-parse', 'HEAD'], { cwd: repo.dir })).trim()];
  await git(['commit', '-q', '--allow-empty', '--author=Mallory <m@example.invalid>', '-m', 'Ship <!channel> now'], { cwd: repo.dir });
  await git(['commit', '-q', '--allow-empty', '--author=Alice <a@example.invalid>', '-m', 'Fix checkout'], { cwd: repo.dir });
  shas.push((await git(['rev-parse', 'HEAD'], { cwd: repo.dir })).trim());
  bed = await startSlackBed(
    'socket',
    {
      repos: { shop: { url: repo.url, defaultBranch: 'master' } },
      groups: { release: ['slack:T1/UREL1'] },
      environments: { production: { repo: 'shop', approvers: 'release', target: { run: { image: 'bosun/busybox:1', commands: ['true'] } } } },
    } as never,
    { approverChannels: { release: { channel: 'CREL' } } },
  );
});
after(async () => {
  await bed?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

async function recordPublished(sha: string, d: string): Promise<Build> {
  const store = bed.h.server.core.store;
  const id = await store.nextId();
  const t = Date.now();
  const at = (s: number) => new Date(t + s * 1000).toISOString();
  const build: Build = {
    id,
    repo: 'shop',
    ref: 'master',
    sha,
    status: 'success',
    attempt: 1,
    version: 0,
    createdAt: at(0),
    startedAt: at(0),
    finishedAt: at(20),
    trigger: { event: 'push', source: 'github', actor: { id: 'github:1', name: 'dev' } },
    stages: [
      {
        name: 'test',
        status: 'success',
        needs: [],
        labels: [],
        resources: [],
        startedAt: at(0),
        finishedAt: at(12),
        steps: [{ name: 'unit', status: 'success', image: 'x', plan: {} as never, runs: 1, startedAt: at(0), finishedAt: at(12) }],
        tests: { total: 31, failed: 0, errors: 0, skipped: 0, failures: [], files: ['junit.xml'] },
      },
    ],
    published: [{ kind: 'docker', stage: 'test', image: 'registry.test/shop', tag: sha, digest: d, ref: `registry.test/shop@${d}`, publishedAt: at(20) }],
  };
  await store.create(build, []);
  return build;
}

test('a deploy approval card in Slack: environment, commits since what runs there, gate results, confirm dialogs', async () => {
  const { fake, h } = bed;
  const old = await recordPublished(shas[0]!, digest('a'));
  const next = await recordPublished(shas[1]!, digest('b'));
  const deploys = new DeployStore(h.server.core.redis, h.server.core.prefix);
  await deploys.create({
    id: await deploys.nextId(),
    environment: 'production',
    repo: 'shop',
    buildId: old.id,
    sha: old.sha,
    image: 'registry.test/shop',
    digest: digest('a'),
    ref: `registry.test/shop@${digest('a')}`,
    kind: 'deploy',
    requestedBy: { id: 'slack:T1/UOPS', name: 'ops' },
    source: 'slack',
    state: 'succeeded',
    approvals: [],
    createdAt: new Date().toISOString(),
    version: 0,
  });
  await bed.command(`deploy shop@${next.id} to production`, 'UASK', { channel: 'CDEV' });
  const card = await fake.waitFor(() => fake.channel('CREL')[0]?.root, 60_000, "card in the approvers' channel");
  const shown = (card.blocks ?? [])
    .filter((b) => b.type === 'section')
    .map((b) => b.text.text)
    .join('\n');
  process.stderr.write(`deploy card:\n${shown}\n`);
  assert.match(shown, /^<@UREL1>\n:raised_hand: \*Approval needed\* for stage \*deploy-production\*/);
  assert.match(shown, /\*Repository\* shop#master · \*Environment\* production · \*Commit\* `[0-9a-f]{7}` Fix checkout · \*Asked by\* <@UASK>/);
  assert.match(
    shown,
    /\*2 commits\* since what runs in production \(deploy #\d+\) by Alice, Mallory\n• `[0-9a-f]{7}` Fix checkout — Alice\n• `[0-9a-f]{7}` Ship &lt;!channel&gt; now — Mallory\n/,
  );
  assert.doesNotMatch(shown, /<!channel>/);
  assert.match(shown, new RegExp(`\\*Gates\\* \\(build #${next.id}\\): :white_check_mark: test success 12s, 31 tests passed`));
  assert.match(shown, /Deadline: <!date\^\d+\^/);
  const buttons = card.blocks!.find((b) => b.type === 'actions')!.elements as any[];
  assert.deepEqual(
    buttons.map((b) => [b.text.text, b.confirm?.confirm.text, b.confirm?.deny.text]),
    [
      ['Approve', 'Approve', 'Cancel'],
      ['Reject', 'Reject', 'Cancel'],
    ],
  );
  assert.match(buttons[0].confirm.text.text, /^Approve shop to production \(stage deploy-production of build #\d+\)\?$/);

  // Reject: every copy says who and when, without buttons; nothing is deployed.
  const value = buttons[1].value as string;
  await bed.click(actionIds.fail, value, 'UREL1', { channel: 'CREL', ts: card.ts });
  const decided = await fake.waitFor(
    () => {
      const m = fake.messages.get(card.ts)!;
      return /Rejected by <@UREL1> <!date\^/.test(m.text) ? m : null;
    },
    60_000,
    'decided card',
  );
  assert.ok(!decided.blocks?.some((b) => b.type === 'actions'));
});
