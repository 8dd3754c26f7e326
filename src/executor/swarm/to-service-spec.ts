import type { CreateServiceOptions } from 'dockerode';
import { containerSecretsDir, secretsDirVariable, type StepSpec } from '../executor.js';
import { stepScript } from '../step-script.js';
import { secretsPreamble } from '../secret-script.js';
import type { StepSecretRef } from './swarm-secrets.js';
import { containerEnv, containerWorkdir, stepUser, tmpfsBytes, tmpfsTargets, workspaceMount } from '../container/isolation.js';

export interface ServiceTarget {
  name: string;
  /** The image by ID (one node) or by registry digest (several nodes); never a bare tag. */
  image: string;
  networkId: string;
  volumeName: string;
  /** The workdir relative to the workspace (POSIX, '' for the root). */
  workdir: string;
  labels: Record<string, string>;
  /**
   * Placement constraints: one node, `node.id==<manager>` (it holds the workspace volume and
   * the image); several, the server's and the stage's constraints and the stage's node.
   */
  constraints: string[];
  /** Grace Swarm gives between StopSignal and SIGKILL when the service is removed. */
  stopGraceMs: number;
  /** A file the step waits for before its commands (its workspace is still being filled). */
  waitFor?: string;
  /** Name servers for the engine's embedded DNS to forward to (empty: the node's). */
  dns?: string[];
  /** Resolver options in the task's resolv.conf (`stepDnsOptions`). */
  dnsOptions?: string[];
  /** The step's Docker secrets (`SwarmSecrets.create`): references only, never values. */
  secrets?: StepSecretRef[];
}

/**
 * A step as a one-shot Swarm service (pure; unit-testable).
 * - `Replicated` with one replica and `RestartPolicy: none`: Swarm never re-runs a step (R19);
 *   unlike `ReplicatedJob`, its container goes away with the service.
 * - The image by ID (a tag would make the task try a public registry), `json-file` logs so
 *   they can be read back, labels on the service and its container.
 * - Isolation (R15, R16, R18): no capabilities (dropped ALL, added none), non-root user,
 *   read-only root with tmpfs /tmp and HOME, the workspace volume and no host bind, CPU,
 *   memory and pids limits (`Pids` needs API 1.41), the build's own network (see `BuildNetworks`), and
 *   an init as PID 1. Swarm services cannot be privileged. Engine 20.10's service API has no
 *   `no-new-privileges` (see the executor's notes).
 * - Placed by `constraints` (see `ServiceTarget`).
 * - Secrets: Docker secrets by reference, files in /run/secrets; the env forms are exported
 *   from them by the script (`secretsPreamble`), so no value is in this spec.
 */
export function toServiceSpec(spec: StepSpec, target: ServiceTarget): CreateServiceOptions {
  const tmpfsSize = tmpfsBytes(spec.limits.memoryBytes);
  const secrets = target.secrets ?? [];
  const preamble = secrets.length ? secretsPreamble(containerSecretsDir, spec.secrets ?? [], false) : undefined;
  return {
    Name: target.name,
    Labels: target.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: target.image,
        Labels: target.labels,
        Command: ['/bin/sh', '-e', '-c'],
        Args: [stepScript(spec.commands, target.waitFor, preamble)],
        Env: containerEnv(secrets.length ? { ...spec.env, [secretsDirVariable]: containerSecretsDir } : spec.env),
        ...(secrets.length ? { Secrets: secrets } : {}),
        Dir: containerWorkdir(target.workdir),
        User: stepUser,
        Init: true,
        TTY: false,
        OpenStdin: false,
        ReadOnly: true,
        StopSignal: 'SIGTERM',
        StopGracePeriod: Math.round(target.stopGraceMs * 1e6),
        CapabilityDrop: ['ALL'],
        CapabilityAdd: [],
        ...dnsConfig(target),
        Mounts: [
          // NoCopy false: a volume new on this node is filled from the image's /workspace
          // (multi-node workspaces; see WorkspaceImages). One node: the volume is never new.
          {
            Type: 'volume',
            Source: target.volumeName,
            Target: workspaceMount,
            VolumeOptions: { NoCopy: false, Labels: target.labels, DriverConfig: { Name: 'local', Options: {} } },
          },
          ...tmpfsTargets.map((path) => ({ Type: 'tmpfs' as const, Source: '', Target: path, TmpfsOptions: { SizeBytes: tmpfsSize, Mode: 0o1777 } })),
        ],
      },
      Resources: {
        Limits: { NanoCPUs: Math.round(spec.limits.cpus * 1e9), MemoryBytes: spec.limits.memoryBytes, Pids: spec.limits.pids },
      },
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      Placement: { Constraints: target.constraints },
      Networks: [{ Target: target.networkId }],
      LogDriver: { Name: 'json-file' },
    },
    Mode: { Replicated: { Replicas: 1 } },
  };
}

/** The task's `DNSConfig`: name servers and resolver options, each only when given. */
function dnsConfig(target: { dns?: string[]; dnsOptions?: string[] }): { DNSConfig?: { Nameservers?: string[]; Options?: string[] } } {
  const nameservers = target.dns?.length ? { Nameservers: target.dns } : {};
  const options = target.dnsOptions?.length ? { Options: target.dnsOptions } : {};
  return target.dns?.length || target.dnsOptions?.length ? { DNSConfig: { ...nameservers, ...options } } : {};
}
