import type { DeployService } from '../../commands/deploy-service.js';
import type { Core } from '../app/open-core.js';

/** The deploy front end provides its service on its core (like GitHub's); `commandServices` hands it to every front end's commands. */
export function provideDeploys(core: Pick<Core, 'provided'>, service: DeployService): void {
  core.provided.deploys = service;
}

export function deploysFor(core: Pick<Core, 'provided'>): DeployService | undefined {
  return core.provided.deploys;
}
