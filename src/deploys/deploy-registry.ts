import type { DeployService } from '../../commands/deploy-service.js';

const services = new WeakMap<object, DeployService>();

/** The deploy front end registers its service for a core; `commandServices` hands it to every front end's commands. */
export function provideDeploys(core: object, service: DeployService): void {
  services.set(core, service);
}

export function deploysFor(core: object): DeployService | undefined {
  return services.get(core);
}
