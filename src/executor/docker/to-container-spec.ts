import type { ContainerCreateOptions } from 'dockerode';
import { containerSecretsDir, secretsDirVariable, type StepSpec } from '../executor.js';
import { stepScript } from '../step-script.js';
import { secretsPreamble } from '../secret-script.js';
import {
  containerEnv,
  containerWorkdir,
  isolatedHostConfig,
  secretsTmpfsOptions,
  stepUser,
  tmpfsBytes,
  tmpfsMounts,
  workspaceMount,
} from '../container/isolation.js';

export interface ContainerTarget {
  name: string;
  imageId: string;
  networkName: string;
  volumeName: string;
  /** The workdir relative to the workspace (POSIX, '' for the root). */
  workdir: string;
  labels: Record<string, string>;
  /** Name servers for the engine's embedded DNS to forward to (empty: the host's). */
  dns?: string[];
  /** Resolver options in the container's resolv.conf (`stepDnsOptions`). */
  dnsOptions?: string[];
}

/**
 * A step as a plain container (pure; unit-testable). Isolation is fixed here (R15, R16, R18):
 * unprivileged, every capability dropped and none added, no-new-privileges, non-root user,
 * read-only root with tmpfs /tmp and HOME, the workspace volume (never a host bind), CPU,
 * memory (no extra swap) and pids limits, the build's own network (see `BuildNetworks`), and an init process
 * (docker-init) as PID 1 so SIGTERM reaches the script and zombies are reaped.
 *
 * Secrets (`spec.secrets`): a tmpfs at /run/secrets owned by the step user (mode 0700) and an
 * open stdin (closed after the first attach ends). The executor writes the values to stdin
 * after start (`secretsPayload`); the script's preamble writes them to files there, then exports
 * the env forms. No value is in this spec: Docker 20.10 cannot copy a file into a tmpfs or a
 * read-only root (`putArchive` fails both before and after start), and env would show in inspect.
 */
export function toContainerSpec(spec: StepSpec, target: ContainerTarget): ContainerCreateOptions {
  const tmpfsSize = tmpfsBytes(spec.limits.memoryBytes);
  const secrets = spec.secrets ?? [];
  const withSecrets = secrets.length > 0;
  const preamble = withSecrets ? secretsPreamble(containerSecretsDir, secrets, true) : undefined;
  return {
    name: target.name,
    Image: target.imageId,
    Entrypoint: ['/bin/sh', '-e', '-c'],
    Cmd: [stepScript(spec.commands, undefined, preamble)],
    Env: containerEnv(withSecrets ? { ...spec.env, [secretsDirVariable]: containerSecretsDir } : spec.env),
    WorkingDir: containerWorkdir(target.workdir),
    User: stepUser,
    Labels: target.labels,
    AttachStdin: withSecrets,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: withSecrets,
    ...(withSecrets ? { StdinOnce: true } : {}),
    StopSignal: 'SIGTERM',
    HostConfig: {
      ...isolatedHostConfig(spec.limits),
      Mounts: [{ Type: 'volume', Source: target.volumeName, Target: workspaceMount }, ...tmpfsMounts(tmpfsSize)],
      ...(withSecrets ? { Tmpfs: { [containerSecretsDir]: secretsTmpfsOptions(secrets) } } : {}),
      NetworkMode: target.networkName,
      ...(target.dns && target.dns.length > 0 ? { Dns: target.dns } : {}),
      ...(target.dnsOptions && target.dnsOptions.length > 0 ? { DnsOptions: target.dnsOptions } : {}),
    },
  };
}
