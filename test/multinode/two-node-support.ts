import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import Docker from 'dockerode';

const run = promisify(execFile);

/** The test worker node's engine (scripts/multinode-up.sh) and the registry both nodes use. */
export const node2Socket = '/var/run/bosun-node2/docker.sock';
export const node2PidFile = '/var/run/bosun-node2/dockerd.pid';
export const registry = process.env.BOSUN_REGISTRY_ADDR ?? '10.210.0.1:5055';

export const manager = new Docker({ socketPath: '/var/run/docker.sock' });
export const node2 = new Docker({ socketPath: node2Socket });

export interface TwoNodes {
  managerId: string;
  node2Id: string;
}

/**
 * The two nodes, both ready and active. In CI (CI=true) a missing second node is a failure:
 * scripts/test.sh brings it up for this phase. Elsewhere the test is skipped with a reason.
 */
export async function requireTwoNodes(t?: { skip(msg: string): void }): Promise<TwoNodes | undefined> {
  const found = await twoNodes().catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
  if (typeof found !== 'string') return found;
  if (process.env.CI) throw new Error(`the two-node swarm is required in CI (scripts/multinode-up.sh): ${found}`);
  t?.skip(`no two-node swarm here (${found}); run scripts/multinode-up.sh`);
  return undefined;
}

async function twoNodes(): Promise<TwoNodes | string> {
  const managerId = ((await manager.info()) as { Swarm?: { NodeID?: string } }).Swarm?.NodeID;
  const node2Id = ((await node2.info()) as { Swarm?: { NodeID?: string } }).Swarm?.NodeID;
  if (!managerId || !node2Id) return 'an engine is not in a swarm';
  const nodes = (await manager.listNodes()) as Array<{ ID: string; Status?: { State?: string }; Spec?: { Availability?: string } }>;
  for (const id of [managerId, node2Id]) {
    const n = nodes.find((x) => x.ID === id);
    if (n?.Status?.State !== 'ready' || n.Spec?.Availability !== 'active') return `node ${id} is not ready and active`;
  }
  return { managerId, node2Id };
}

/** Set (or, with `undefined`, remove) a node label, keeping the rest of its spec. */
export async function setNodeLabel(id: string, key: string, value: string | undefined): Promise<void> {
  const args = value === undefined ? ['node', 'update', '--label-rm', key, id] : ['node', 'update', '--label-add', `${key}=${value}`, id];
  await run('docker', args).catch((err: unknown) => {
    if (value !== undefined) throw err; // removing a label that is not there
  });
}

export interface SeenTask {
  service: string;
  serviceName: string;
  image: string;
  taskId: string;
  nodeId: string;
  state: string;
  labels: Record<string, string>;
}

/**
 * Records every task of this instance's step services, polled every 150 ms from the manager:
 * which node each ran on, from which image, and how many tasks each service ever had.
 */
export function watchTasks(instanceId: string): { seen: Map<string, SeenTask>; stop(): void } {
  const seen = new Map<string, SeenTask>();
  let stopped = false;
  void (async () => {
    while (!stopped) {
      try {
        const services = await manager.listServices({ filters: JSON.stringify({ label: [`bosun.instance=${instanceId}`] }) });
        if (services.length > 0) {
          const tasks = (await manager.listTasks({ filters: JSON.stringify({ service: services.map((s) => s.ID) }) })) as Array<{
            ID: string;
            ServiceID: string;
            NodeID?: string;
            Status: { State: string };
          }>;
          for (const task of tasks) {
            const svc = services.find((s) => s.ID === task.ServiceID);
            seen.set(task.ID, {
              service: task.ServiceID,
              serviceName: svc?.Spec?.Name ?? '?',
              image: (svc?.Spec?.TaskTemplate as { ContainerSpec?: { Image?: string } } | undefined)?.ContainerSpec?.Image ?? '?',
              taskId: task.ID,
              nodeId: task.NodeID ?? seen.get(task.ID)?.nodeId ?? '',
              state: task.Status.State,
              labels: svc?.Spec?.Labels ?? {},
            });
          }
        }
      } catch {
        // a service removed between the two calls: the next poll sees the rest
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return { seen, stop: () => void (stopped = true) };
}

/** Set a node's availability (`drain`, `active`). */
export async function drain(id: string, availability: 'drain' | 'active'): Promise<void> {
  await run('docker', ['node', 'update', '--availability', availability, id]);
}

/** Kill the second engine's dockerd with SIGKILL (its node dies as far as the swarm knows). */
export function killNode2Engine(): void {
  process.kill(Number(readFileSync(node2PidFile, 'utf8').trim()), 'SIGKILL');
}
