import type { CommandServices } from '../../commands/command.js';
import { makeLeaseService } from '../leases/lease-service.js';
import type { Core } from './open-core.js';
import { deploysFor } from '../deploys/deploy-registry.js';
import { makeNotifyService } from './notify-service.js';

/**
 * The optional services every front end puts into its command contexts (beside `builds`),
 * so a command works the same from Slack, Zulip, GitHub comments, the API and the CLI. All of
 * them belong to this Bosun instance (`core`). `github` is read when a context is made
 * (spread): the GitHub front end provides it when it starts and withdraws it when it stops.
 */
export function commandServices(core: Core): CommandServices {
  const leases = core.deps.leases ? makeLeaseService(core.deps.leases) : undefined;
  const notify = makeNotifyService(core);
  return {
    ...(leases ? { leases } : {}),
    ...(notify ? { notify } : {}),
    get github() {
      return core.provided.github;
    },
    get deploys() {
      return deploysFor(core);
    },
  };
}
