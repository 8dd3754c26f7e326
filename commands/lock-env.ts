import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { hasDeploys, requireDeploys } from './deploy-service.js';

export const lockEnv: Command = {
  name: 'lock',
  available: hasDeploys,
  help: {
    usage: 'lock <environment> <reason…>',
    description: 'Lock an environment: every deploy to it is refused, saying who locked it and why, until `unlock`.',
    whoCanUse: 'Anyone.',
    examples: ['lock production "incident 4711: hold deploys"', 'lock staging demo for the customer at 3pm'],
  },
  async run(ctx, args) {
    const service = requireDeploys(ctx);
    const [environment, ...reason] = args;
    if (!environment || reason.join(' ').trim() === '') throw new UsageError('Say why: the reason is shown to everyone whose deploy is refused.');
    return { text: await service.lock(environment.toLowerCase(), reason.join(' ').slice(0, 300), ctx), kind: 'ok' };
  },
};

export const unlockEnv: Command = {
  name: 'unlock',
  available: hasDeploys,
  help: {
    usage: 'unlock <environment>',
    description: 'Unlock an environment so deploys run again (a deploy queued meanwhile starts).',
    whoCanUse: "Whoever locked it, or a member of the environment's approver group.",
    examples: ['unlock production'],
  },
  async run(ctx, args) {
    const service = requireDeploys(ctx);
    if (args.length !== 1) throw new UsageError();
    return { text: await service.unlock((args[0] ?? '').toLowerCase(), ctx), kind: 'ok' };
  },
};
