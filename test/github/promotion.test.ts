import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Build, StageRun } from '../../src/domain/build.js';
import type { RunStatus } from '../../src/domain/status.js';
import { GithubConfig } from '../../src/github/github-config.js';
import { requestPromotion, type PromotionDeps } from '../../src/github/promotion.js';
import type { CommandContext } from '../../commands/command.js';
import { silentLogger } from '../../src/logger.js';

const shaA = 'a'.repeat(40);
const github = GithubConfig.parse({ webhookSecrets: ['s'], downstream: { 'acme/api': ['acme/web'] } });

function stage(name: string, status: RunStatus): StageRun {
  return { name, status, needs: [], labels: [], resources: [], steps: [] };
}

function build(id: string, over: Partial<Build>): Build {
  return {
    id,
    repo: 'acme/api',
    ref: 'master',
    sha: shaA,
    attempt: 1,
    version: 1,
    createdAt: '',
    status: 'success',
    trigger: { event: 'push', source: 'github', actor: { id: 'github:1', name: 'dev' } },
    stages: [],
    ...over,
  };
}

function deps(builds: Build[]): PromotionDeps & { created: unknown[] } {
  const created: unknown[] = [];
  return {
    created,
    github,
    client: { getRef: async () => null, fastForwardRef: async () => true, createRef: async () => undefined },
    core: {
      config: { repos: { 'acme/api': { url: 'file:///x', defaultBranch: 'master', secrets: [] } } },
      store: { list: async ({ repo }: { repo?: string }) => builds.filter((b) => b.repo === repo) },
      deps: {},
      audit: { record: async () => undefined },
      log: silentLogger(),
    } as unknown as PromotionDeps['core'],
  };
}

const ctx = { actor: { id: 'github:1', name: 'dev' }, source: 'github' } as CommandContext;
const green = [stage('test', 'success'), stage('staging', 'success'), stage('e2e', 'success')];

for (const [name, builds, expected] of [
  [
    'nothing green on master: refused',
    [build('1', { status: 'failed', stages: [stage('test', 'success'), stage('staging', 'success'), stage('e2e', 'failed')] })],
    /Nothing to promote/,
  ],
  ['green without e2e: refused', [build('1', { stages: [stage('test', 'success')] })], /Nothing to promote/],
  ['downstream not reported: refused', [build('1', { stages: green })], /downstream\/acme\/web is not reported/],
  [
    'downstream still running: refused',
    [
      build('1', { stages: green }),
      build('2', {
        repo: 'acme/web',
        status: 'running',
        trigger: { event: 'downstream', source: 'github', actor: { id: 'bosun', name: 'Bosun' }, upstream: { repo: 'acme/api', sha: shaA } },
      }),
    ],
    /downstream\/acme\/web is running/,
  ],
  [
    'downstream failed: refused',
    [
      build('1', { stages: green }),
      build('2', {
        repo: 'acme/web',
        status: 'failed',
        trigger: { event: 'downstream', source: 'github', actor: { id: 'bosun', name: 'Bosun' }, upstream: { repo: 'acme/api', sha: shaA } },
      }),
    ],
    /downstream\/acme\/web is failed/,
  ],
] as const) {
  test(`promotion waits for e2e and downstream: ${name}`, async () => {
    const res = await requestPromotion(deps([...builds]), 'acme/api', ctx);

    assert.match(res.text, expected);
    assert.equal(res.build, undefined);
  });
}
