import Docker from 'dockerode';
import { UserError } from '../../errors.js';
import { engineAddressProblem } from './node-engine-address.js';

/** A client of the engine at `address` (as accepted by `engineAddressProblem`). */
export function engineClient(address: string): Docker {
  if (address.startsWith('unix://')) return new Docker({ socketPath: address.slice('unix://'.length) });
  const url = new URL(address.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) });
}

/** The engine of a node, or why there is none this worker may use. */
export type NodeEngine = { docker: Docker; address: string } | { docker?: undefined; why: string };

/**
 * The engines of other swarm nodes this worker may exec on (`swarm.nodeEngines`), by node ID or
 * hostname. An engine is used for a node only once its own `info` says it is that node (its
 * `Swarm.NodeID`): a stale or wrong address is never exec'd on, the stage runs a service per
 * step instead and its log says why. A confirmed engine is remembered; a failed check is tried
 * again by the next stage.
 */
export class NodeEngines {
  readonly #engines: Map<string, { address: string; docker: Docker }>;
  readonly #confirmed = new Map<string, Promise<string>>();
  readonly #checkTimeoutMs: number;

  constructor(addresses: Record<string, string>, checkTimeoutMs = 5000) {
    this.#engines = new Map();
    for (const [node, address] of Object.entries(addresses)) {
      const problem = engineAddressProblem(address);
      if (problem) throw new UserError('config_invalid', `swarm.nodeEngines.${node}: ${problem}`);
      this.#engines.set(node, { address, docker: engineClient(address) });
    }
    this.#checkTimeoutMs = checkTimeoutMs;
  }

  get size(): number {
    return this.#engines.size;
  }

  /** Every configured engine (to find what an earlier process left on them). */
  all(): Docker[] {
    return [...this.#engines.values()].map((e) => e.docker);
  }

  /** The engine configured for the node `id` (or its `hostname`), confirmed to be that node's. */
  async forNode(id: string, hostname: string | undefined): Promise<NodeEngine> {
    const entry = this.#engines.get(id) ?? (hostname ? this.#engines.get(hostname) : undefined);
    if (!entry) return { why: 'no engine is configured for it in swarm.nodeEngines' };
    let nodeId: string;
    try {
      nodeId = await this.#nodeIdOf(entry.address, entry.docker);
    } catch (err) {
      return { why: `its engine ${entry.address} (swarm.nodeEngines) did not answer: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (nodeId !== id) {
      this.#confirmed.delete(entry.address); // asked again next time (the node may have rejoined)
      return { why: `its engine ${entry.address} (swarm.nodeEngines) is node ${nodeId || 'outside the swarm'}, not this one` };
    }
    return { docker: entry.docker, address: entry.address };
  }

  #nodeIdOf(address: string, docker: Docker): Promise<string> {
    let found = this.#confirmed.get(address);
    if (!found) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.#checkTimeoutMs} ms`)), this.#checkTimeoutMs);
      });
      found = Promise.race([docker.info() as Promise<{ Swarm?: { NodeID?: string } }>, timeout])
        .then((info) => info.Swarm?.NodeID ?? '')
        .finally(() => clearTimeout(timer));
      this.#confirmed.set(address, found);
      found.catch(() => this.#confirmed.delete(address));
    }
    return found;
  }
}
