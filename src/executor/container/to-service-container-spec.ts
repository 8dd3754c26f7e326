import type { ContainerCreateOptions } from 'dockerode';
import type { ServiceReadyProbe, ServiceSpec } from '../executor.js';
import { containerEnv, isolatedHostConfig, stepHome, stepUser, tmpfsBytes, tmpfsMounts } from './isolation.js';

export interface ServiceContainerTarget {
  name: string;
  imageId: string;
  /** The build's network (ID or name); the service joins it with its name as an alias. */
  networkId: string;
  labels: Record<string, string>;
}

/** How long one probe may take before it counts as failed. */
const probeTimeoutSec = 10;

/**
 * A service as a plain container (pure; unit-testable). The isolation of a step (R15, R16,
 * R18): unprivileged, every capability dropped and none added, no-new-privileges, the step
 * user (1000:1000), read-only root with tmpfs /tmp and HOME, CPU, memory and pids limits, an
 * init as PID 1, the build's network only. No workspace and no host path. `RestartPolicy: no`:
 * a service that exits stays exited, and the stage fails.
 *
 * Readiness is a Docker health check run inside the container (`ready.run` as a shell script,
 * `ready.tcp` as a /bin/sh loop over /proc/net/tcp{,6} looking for the port in LISTEN), with
 * a start period as long as the ready timeout: failures before the first success do not
 * count; after it, `retries` failures in a row mark it unhealthy. `image`: no health check of
 * ours, so the image's HEALTHCHECK (if any) applies.
 */
export function toServiceContainerSpec(spec: ServiceSpec, target: ServiceContainerTarget): ContainerCreateOptions {
  const tmpfsSize = tmpfsBytes(spec.limits.memoryBytes);
  const healthcheck = healthcheckFor(spec.ready);
  return {
    name: target.name,
    Image: target.imageId,
    ...(spec.command ? { Cmd: spec.command } : {}),
    Env: containerEnv(spec.env),
    WorkingDir: stepHome,
    User: stepUser,
    Labels: target.labels,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: false,
    StopSignal: 'SIGTERM',
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
    HostConfig: {
      ...isolatedHostConfig(spec.limits),
      Mounts: tmpfsMounts(tmpfsSize),
      NetworkMode: target.networkId,
    },
    NetworkingConfig: { EndpointsConfig: { [target.networkId]: { Aliases: [spec.name] } } },
  };
}

export interface Healthcheck {
  Test: string[];
  Interval: number;
  Timeout: number;
  Retries: number;
  StartPeriod: number;
}

/** The Docker health check for a `ready` probe (none for `image`). */
export function healthcheckFor(ready: ServiceReadyProbe): Healthcheck | undefined {
  if (ready.kind === 'image') return undefined;
  const script = ready.kind === 'run' ? ['set -e', ...ready.commands].join('\n') : tcpListenScript(ready.port);
  const ns = 1e9;
  return {
    Test: ['CMD-SHELL', script],
    Interval: ready.intervalSec * ns,
    Timeout: Math.min(probeTimeoutSec, Math.max(1, ready.timeoutSec)) * ns,
    Retries: ready.retries,
    StartPeriod: ready.timeoutSec * ns,
  };
}

/**
 * Exits 0 when something listens on `port` inside the container, with only /bin/sh builtins
 * (no nc or bash needed in the image): /proc/net/tcp lists `local_address` as hex
 * `ADDR:PORT` and state `0A` for LISTEN.
 */
export function tcpListenScript(port: number): string {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return [
    'for f in /proc/net/tcp /proc/net/tcp6; do',
    '  [ -r "$f" ] || continue',
    '  while read -r _ local _ state _; do',
    `    case "$local:$state" in *:${hex}:0A) exit 0;; esac`,
    '  done < "$f"',
    'done',
    'exit 1',
  ].join('\n');
}
