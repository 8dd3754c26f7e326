import { validateRepoName } from '../src/domain/ref-name.js';
import { shortSha } from '../src/domain/build.js';
import { shortDigest } from '../src/domain/deploy.js';
import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { hasDeploys, requireDeploys } from './deploy-service.js';

export const envs: Command = {
  name: 'envs',
  aliases: ['environments'],
  available: hasDeploys,
  help: {
    usage: 'envs <owner/repo>',
    description:
      'What runs where: per environment of the repository, the deployed digest, commit, build, how long ago and who deployed it; deploys in flight and locks.',
    whoCanUse: 'Anyone.',
    examples: ['envs acme/api'],
  },
  async run(ctx, args) {
    const service = requireDeploys(ctx);
    if (args.length !== 1) throw new UsageError();
    const repo = validateRepoName(args[0] ?? '');
    const list = await service.environments(repo);
    if (list.length === 0) return { text: `${repo} deploys to no environment.`, kind: 'ok' };
    const lines = list.map((e) => {
      const c = e.current;
      const now = c
        ? `${shortDigest(c.digest)} ${shortSha(c.sha)} build #${c.buildId}, ${age(Date.now() - Date.parse(c.finishedAt ?? c.createdAt))} ago by ${c.requestedBy.name} (deploy #${c.id})`
        : 'nothing deployed by Bosun yet';
      const extra = [
        ...(e.lock ? [`LOCKED by ${e.lock.by.name}: ${e.lock.reason}`] : []),
        ...(e.pending ?? []).map((p) => `deploy #${p.id} ${shortDigest(p.digest)} ${p.state.replace('_', ' ')}`),
      ];
      return `${e.name}: ${now}${extra.length ? ` — ${extra.join('; ')}` : ''}`;
    });
    return { text: `Environments of ${repo}:`, code: lines, kind: 'ok' };
  },
};

/** A coarse age for people: `40s`, `3m`, `5h`, `2d`. */
function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
