import type Docker from 'dockerode';

/** What Bosun reads of a swarm node. */
export interface SwarmNode {
  id: string;
  hostname: string;
  /** `ready`, `down`, `disconnected`, `unknown`. */
  state: string;
  /** `active`, `pause`, `drain`. */
  availability: string;
}

/**
 * The swarm's nodes, listed at most once per `maxAgeMs` (one `GET /nodes` for all steps).
 * `peek` is synchronous and may be up to `maxAgeMs` old; it starts a refresh when stale, so
 * a poller calling it on every tick sees a node go down within about one refresh.
 */
export class SwarmNodes {
  readonly #docker: Docker;
  readonly #maxAgeMs: number;
  #nodes = new Map<string, SwarmNode>();
  #at = 0;
  #refreshing: Promise<Map<string, SwarmNode>> | undefined;

  constructor(docker: Docker, maxAgeMs = 1000) {
    this.#docker = docker;
    this.#maxAgeMs = maxAgeMs;
  }

  peek(id: string): SwarmNode | undefined {
    if (Date.now() - this.#at > this.#maxAgeMs) void this.refresh().catch(() => undefined);
    return this.#nodes.get(id);
  }

  /** A fresh listing (shared by concurrent callers). */
  refresh(): Promise<Map<string, SwarmNode>> {
    this.#refreshing ??= this.#list().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  /** The node if it can take new tasks now (ready and active), from a fresh listing. */
  async usable(id: string): Promise<SwarmNode | undefined> {
    const node = (await this.refresh()).get(id);
    return node && node.state === 'ready' && node.availability === 'active' ? node : undefined;
  }

  async #list(): Promise<Map<string, SwarmNode>> {
    const raw = (await this.#docker.listNodes()) as RawNode[];
    const nodes = new Map<string, SwarmNode>();
    for (const n of raw) {
      if (!n.ID) continue;
      nodes.set(n.ID, {
        id: n.ID,
        hostname: n.Description?.Hostname ?? '?',
        state: n.Status?.State ?? 'unknown',
        availability: n.Spec?.Availability ?? 'unknown',
      });
    }
    this.#nodes = nodes;
    this.#at = Date.now();
    return nodes;
  }
}

interface RawNode {
  ID?: string;
  Description?: { Hostname?: string };
  Status?: { State?: string };
  Spec?: { Availability?: string };
}

/** "vm (ynxl4hcc3gig)": how a node is named to people. */
export function describeNode(node: Pick<SwarmNode, 'id' | 'hostname'>): string {
  return `${node.hostname} (${node.id.slice(0, 12)})`;
}
