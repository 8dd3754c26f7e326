/** The fields of a Swarm task Bosun reads (dockerode types `listTasks` as `any[]`). */
export interface SwarmTask {
  ID: string;
  ServiceID: string;
  /** Set once the task is assigned to a node. */
  NodeID?: string;
  DesiredState?: string;
  Status: {
    State: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
}

/** States after which a task never runs again. */
export const terminalStates = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);

export function toSwarmTask(value: unknown): SwarmTask | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const task = value as Partial<SwarmTask>;
  if (typeof task.ID !== 'string' || typeof task.ServiceID !== 'string') return undefined;
  if (typeof task.Status !== 'object' || task.Status === null || typeof task.Status.State !== 'string') return undefined;
  return task as SwarmTask;
}
