import type { ContainerCreateOptions } from 'dockerode';
import { containerSecretsDir, type StepLimits } from '../executor.js';
import { containerEnv, isolatedHostConfig, stepUser, tmpfsBytes, tmpfsMounts, workspaceMount } from '../container/isolation.js';
import { sandboxIdleCommand, sandboxIdleUser } from '../container/sandbox-script.js';

export interface SandboxTarget {
  name: string;
  imageId: string;
  networkName: string;
  volumeName: string;
  labels: Record<string, string>;
  limits: StepLimits;
  /** Size of the secrets tmpfs in MiB (what the largest step's secrets need; at least 1). */
  secretsMib: number;
  dns?: string[];
  /** Resolver options in the container's resolv.conf (`stepDnsOptions`). */
  dnsOptions?: string[];
}

/**
 * A stage sandbox as a plain container (pure): the isolation of a step container
 * (`toContainerSpec`: no capabilities, no-new-privileges, read-only root with tmpfs /tmp and
 * HOME, the limits, the workspace volume, the build's network, init as PID 1, never restarted),
 * an idle process as `nobody` instead of a script, and a tmpfs at /run/secrets owned by the step
 * user (mode 0700), empty until a step's secrets are written there through its exec's stdin.
 * No step's env, command or secret is in this spec: each step brings them in its exec.
 */
export function toSandboxSpec(target: SandboxTarget): ContainerCreateOptions {
  const [uid, gid] = stepUser.split(':');
  return {
    name: target.name,
    Image: target.imageId,
    Entrypoint: [sandboxIdleCommand[0]!],
    Cmd: sandboxIdleCommand.slice(1),
    Env: containerEnv({}),
    WorkingDir: workspaceMount,
    User: sandboxIdleUser,
    Labels: target.labels,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    StopSignal: 'SIGTERM',
    HostConfig: {
      ...isolatedHostConfig(target.limits),
      Mounts: [{ Type: 'volume', Source: target.volumeName, Target: workspaceMount }, ...tmpfsMounts(tmpfsBytes(target.limits.memoryBytes))],
      Tmpfs: { [containerSecretsDir]: `rw,noexec,nosuid,nodev,size=${target.secretsMib}m,uid=${uid},gid=${gid},mode=0700` },
      NetworkMode: target.networkName,
      ...(target.dns && target.dns.length > 0 ? { Dns: target.dns } : {}),
      ...(target.dnsOptions && target.dnsOptions.length > 0 ? { DnsOptions: target.dnsOptions } : {}),
    },
  };
}
