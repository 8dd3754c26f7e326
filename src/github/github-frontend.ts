import type { BuildService, GithubCommands } from '../../commands/command.js';
import type { Frontend } from '../app/frontend.js';
import type { Core } from '../app/open-core.js';
import { shortSha } from '../domain/build.js';
import { GithubClient, repoId } from './github-client.js';
import { AppTokens } from './app-tokens.js';
import { appPrivateKey, checkRunsOn } from './github-config.js';
import { WebhookVerifier } from './webhook-verifier.js';
import { webhookRoute } from './webhook-route.js';
import { RedisInbox } from './redis-inbox.js';
import { handleDelivery, okToTestContext, startPullRequestBuild } from './handle-delivery.js';
import { OkToTestStore } from './trust.js';
import { makeStatusReporter } from './status-reporter.js';
import { fastForwardMerge } from './fast-forward-merge.js';
import { makePromotionWatcher, requestPromotion } from './promotion.js';

/**
 * The GitHub front end and reporters: the webhook route, the delivery inbox, the status
 * reporter, the promotion watcher, and `merge` / `promote` / `ok-to-test`. Null when the
 * server config has no `github` section; throws UserError('config_invalid') on an empty
 * webhook secret, so startup fails (R1).
 */
export function githubFrontend(core: Core, builds: BuildService): Frontend | null {
  const github = core.config.github;
  if (!github) return null;
  const verifier = new WebhookVerifier(github.webhookSecrets);
  const log = core.log.child({ frontend: 'github' });
  const appTokens = github.app
    ? new AppTokens({ appId: github.app.appId, privateKey: appPrivateKey(github.app), baseUrl: github.apiUrl, marginSec: github.app.tokenMarginSec }, log)
    : undefined;
  const client = new GithubClient(
    {
      baseUrl: github.apiUrl,
      maxRetryAfterSec: github.maxRetryAfterSec,
      ...(appTokens ? { tokens: appTokens } : github.token ? { token: github.token } : {}),
    },
    log,
  );
  const inbox = new RedisInbox(core.redis, core.prefix, log);
  const okStore = new OkToTestStore(core.redis, core.prefix);
  const buildUrl = (id: string) => builds.buildUrl(id);

  const commands: GithubCommands = {
    merge: (target, ctx) =>
      fastForwardMerge(
        {
          client,
          github,
          defaultBranch: (repo) => core.config.repos[repo]?.defaultBranch,
          listBuilds: (repo) => core.store.list({ repo, limit: 200 }),
          audit: (e) => core.audit.record({ action: 'github.merge', source: ctx.source, ...e, ...(ctx.eventId ? { eventId: ctx.eventId } : {}) }),
        },
        target,
        ctx.actor,
      ),
    promote: (repo, ctx) => requestPromotion({ core, github, client }, repo, ctx),
    async okToTest(pr, ctx) {
      const pull = await client.getPull(repoId(pr.repo), pr.number);
      await okStore.approve(pr.repo, pr.number, pull.headSha, ctx.actor.id);
      await core.audit.record({
        action: 'github.ok-to-test',
        actorId: ctx.actor.id,
        source: ctx.source,
        outcome: 'ok',
        sha: pull.headSha,
        detail: `${pr.repo}#${pr.number}`,
      });
      await client.createCommitStatus(repoId(pr.repo), pull.headSha, {
        state: 'success',
        context: okToTestContext,
        description: `approved by ${ctx.actor.name} for this commit only`,
      });
      if (await core.store.claimOnce(`github:seen:pr:${pr.repo}#${pr.number}:${pull.headSha}`)) {
        await startPullRequestBuild(
          { core },
          {
            repo: pr.repo,
            number: pr.number,
            headRef: `pull/${pr.number}/head`,
            headBranch: pull.headRef,
            sha: pull.headSha,
            untrusted: true,
            actor: ctx.actor,
          },
        );
      }
      return `ok-to-test: ${pr.repo}#${pr.number} at ${shortSha(pull.headSha)} will be tested (without secrets); a new push needs a new approval.`;
    },
  };

  return {
    name: 'github',
    http: webhookRoute(verifier, inbox, log),
    async start() {
      core.provided.github = commands;
      inbox.start((d) => handleDelivery({ core, builds, github, client, okToTest: okStore, commands, ...(appTokens ? { installations: appTokens } : {}) }, d));
      core.bus.subscribe(
        makeStatusReporter({
          client,
          redis: core.redis,
          prefix: core.prefix,
          log,
          getBuild: (id) => core.store.get(id),
          tail: (id, stage, step, n) => core.logs.tail(id, stage, step, n),
          isGithubRepo: (repo) => repo.includes('/') && core.config.repos[repo] !== undefined,
          buildUrl,
          checkRuns: checkRunsOn(github),
        }),
      );
      core.bus.subscribe(makePromotionWatcher({ core, github, client }));
    },
    async stop() {
      if (core.provided.github === commands) core.provided.github = undefined;
      await inbox.stop();
    },
  };
}
