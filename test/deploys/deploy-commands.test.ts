import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dispatch } from '../../commands/dispatch.js';
import type { CommandContext } from '../../commands/command.js';
import type { DeployService } from '../../commands/deploy-service.js';
import { deploy } from '../../commands/deploy.js';
import { rollback } from '../../commands/rollback.js';
import { envs } from '../../commands/envs.js';
import { lockEnv, unlockEnv } from '../../commands/lock-env.js';
import { makeHelpCommand } from '../../commands/help.js';
import { fakeCommandServices } from '../fakes/fake-command-services.js';
import type { Deploy } from '../../src/domain/deploy.js';

// What a person types, what Bosun answers, and what it asked of the deploy service.
const all = [deploy, rollback, envs, lockEnv, unlockEnv];
const sample: Deploy = {
  id: '7',
  environment: 'staging',
  repo: 'acme/api',
  buildId: '42',
  sha: 'a'.repeat(40),
  image: 'reg/acme/api',
  digest: `sha256:${'b'.repeat(64)}`,
  ref: `reg/acme/api@sha256:${'b'.repeat(64)}`,
  kind: 'deploy',
  requestedBy: { id: 'slack:T/UA', name: 'alice' },
  source: 'slack',
  state: 'succeeded',
  approvals: [],
  createdAt: new Date(Date.now() - 3 * 60_000).toISOString(),
  finishedAt: new Date(Date.now() - 3 * 60_000).toISOString(),
  version: 3,
};

function fakeDeploys(calls: string[]): DeployService {
  return {
    async deploy(input) {
      calls.push(`deploy ${input.repo} ${input.selector ?? '-'} ${input.environment}`);
      return { text: 'Deploy #7 queued.', deploy: sample };
    },
    async rollback(input) {
      calls.push(`rollback ${input.repo} ${input.environment}`);
      return { text: 'Deploy #8 queued.', deploy: sample };
    },
    async environments(repo) {
      calls.push(`envs ${repo}`);
      return [
        { name: 'staging', repo, current: sample },
        { name: 'production', repo, lock: { by: { id: 'x', name: 'bob' }, reason: 'incident', at: '' } },
      ];
    },
    async lock(env, reason) {
      calls.push(`lock ${env} ${reason}`);
      return `${env} is locked.`;
    },
    async unlock(env) {
      calls.push(`unlock ${env}`);
      return `${env} is unlocked.`;
    },
  };
}

const cases: { typed: string; says: string; calls: string[] }[] = [
  { typed: 'deploy acme/api to staging', says: 'Deploy #7 queued.', calls: ['deploy acme/api - staging'] },
  { typed: 'deploy acme/api@42 to Production', says: 'Deploy #7 queued.', calls: ['deploy acme/api 42 production'] },
  { typed: 'deploy acme/api@3f2a9c1 to staging', says: 'Deploy #7 queued.', calls: ['deploy acme/api 3f2a9c1 staging'] },
  {
    typed: 'deploy acme/api staging',
    says: 'usage: deploy <owner/repo>[@<build|commit|sha256:digest>] to <environment> — e.g. deploy acme/api to staging, deploy acme/api@42 to production',
    calls: [],
  },
  {
    typed: 'deploy acme/api@ to staging',
    says: 'Name a build, a commit or a digest after @, or leave @ out.\nusage: deploy <owner/repo>[@<build|commit|sha256:digest>] to <environment> — e.g. deploy acme/api to staging, deploy acme/api@42 to production',
    calls: [],
  },
  { typed: 'rollback acme/api production', says: 'Deploy #8 queued.', calls: ['rollback acme/api production'] },
  { typed: 'rollback acme/api', says: 'usage: rollback <owner/repo> <environment> — e.g. rollback acme/api production', calls: [] },
  {
    typed: 'envs acme/api',
    says: 'Environments of acme/api:\nstaging: bbbbbbbbbbbb aaaaaaa build #42, 3m ago by alice (deploy #7)\nproduction: nothing deployed by Bosun yet — LOCKED by bob: incident',
    calls: ['envs acme/api'],
  },
  { typed: 'lock production incident 4711 in progress', says: 'production is locked.', calls: ['lock production incident 4711 in progress'] },
  {
    typed: 'lock production',
    says: 'Say why: the reason is shown to everyone whose deploy is refused.\nusage: lock <environment> <reason…> — e.g. lock production "incident 4711: hold deploys", lock staging demo for the customer at 3pm',
    calls: [],
  },
  { typed: 'unlock production', says: 'production is unlocked.', calls: ['unlock production'] },
];

describe('deploy commands, as typed, against a fake deploy service', () => {
  for (const c of cases) {
    it(`\`${c.typed}\` → ${c.says.split('\n')[0]}`, async () => {
      const services = fakeCommandServices();
      const calls: string[] = [];
      const ctx: CommandContext = { actor: { id: 'slack:T/UA', name: 'alice' }, source: 'slack', builds: services.builds, deploys: fakeDeploys(calls) };
      const reply = await dispatch(c.typed, ctx, all);
      assert.equal([reply.text, ...(reply.code ?? [])].join('\n'), c.says);
      assert.deepEqual(calls, c.calls);
    });
  }

  it('a server without environments neither lists nor runs them', async () => {
    const ctx: CommandContext = { actor: { id: 'cli:a', name: 'a' }, source: 'cli', builds: fakeCommandServices().builds };
    const help = await dispatch('help', ctx, [...all, makeHelpCommand(() => all)]);
    assert.doesNotMatch(help.text, /deploy|rollback|envs/);
    const reply = await dispatch('deploy acme/api to staging', ctx, all);
    assert.match(reply.text, /no environments configured/);
  });
});
