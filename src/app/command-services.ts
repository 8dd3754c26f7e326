import type { CommandContext } from '../../commands/command.js';
import { makeLeaseService } from '../leases/lease-service.js';
import type { Core } from './open-core.js';
import { deploysFor } from '../deploys/deploy-registry.js';

/**
 * The optional services every front end puts into its command contexts (beside `builds`),
 * so a command works the same from Slack, GitHub comments, the API and the CLI.
 */
export function commandServices(core: Core): Pick<CommandContext, 'leases' | 'deploys'> {
  const deploys = deploysFor(core);
  return { ...(core.deps.leases ? { leases: makeLeaseService(core.deps.leases) } : {}), ...(deploys ? { deploys } : {}) };
}
