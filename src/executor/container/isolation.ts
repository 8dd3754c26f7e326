/**
 * The isolation every container step gets, whatever the spec says (R15, R16, R18). The spec
 * cannot change any of it: limits arrive already clamped by server config.
 */
export const stepUser = '1000:1000';
export const stepHome = '/home/bosun';
export const workspaceMount = '/workspace';
/**
 * Where tmpfs (mode 1777) is mounted over the read-only root filesystem. A tmpfs over a
 * directory that exists in the image takes that directory's mode, so HOME must not exist in
 * step images (the base images leave /home/bosun out).
 */
export const tmpfsTargets = ['/tmp', stepHome] as const;

/** The working directory inside the container for a workspace-relative POSIX path. */
export function containerWorkdir(relativeWorkdir: string): string {
  return relativeWorkdir ? `${workspaceMount}/${relativeWorkdir}` : workspaceMount;
}

/** Size of each tmpfs: what the memory limit allows anyway (tmpfs pages count against it). */
export function tmpfsBytes(memoryBytes: number): number {
  return Math.max(16 * 2 ** 20, Math.floor(memoryBytes));
}

/** `KEY=value` pairs: the spec's env plus HOME (PATH comes from the image). */
export function containerEnv(env: Record<string, string>): string[] {
  return Object.entries({ HOME: stepHome, ...env }).map(([key, value]) => `${key}=${value}`);
}

/**
 * Mount options of the secrets tmpfs (plain containers): owned by the step user, 0700, no
 * exec/suid/devices, sized for the values (at least 1 MiB). The size is the only thing about
 * the values it reveals, rounded up to whole MiB.
 */
export function secretsTmpfsOptions(secrets: readonly { value: string }[]): string {
  const [uid, gid] = stepUser.split(':');
  const bytes = secrets.reduce((sum, s) => sum + Buffer.byteLength(s.value, 'utf8') + 4096, 0);
  const mib = Math.max(1, Math.ceil(bytes / 2 ** 20));
  return `rw,noexec,nosuid,nodev,size=${mib}m,uid=${uid},gid=${gid},mode=0700`;
}

/** The tmpfs mounts (mode 1777) over the read-only root, each capped at `sizeBytes`. */
export function tmpfsMounts(sizeBytes: number): { Type: 'tmpfs'; Source: string; Target: string; TmpfsOptions: { SizeBytes: number; Mode: number } }[] {
  return tmpfsTargets.map((path) => ({ Type: 'tmpfs' as const, Source: '', Target: path, TmpfsOptions: { SizeBytes: sizeBytes, Mode: 0o1777 } }));
}

/**
 * The HostConfig every container Bosun runs gets (steps and service containers alike): init as
 * PID 1, no privilege, every capability dropped, no new privileges, a read-only root, the
 * limits (memory without swap), never restarted by the engine, logs kept for reading back.
 * Callers add their mounts and network.
 */
export function isolatedHostConfig(limits: { cpus: number; memoryBytes: number; pids: number }) {
  return {
    Init: true,
    Privileged: false,
    CapDrop: ['ALL'],
    CapAdd: [] as string[],
    SecurityOpt: ['no-new-privileges'],
    ReadonlyRootfs: true,
    NanoCpus: Math.round(limits.cpus * 1e9),
    Memory: limits.memoryBytes,
    MemorySwap: limits.memoryBytes,
    PidsLimit: limits.pids,
    RestartPolicy: { Name: 'no' },
    LogConfig: { Type: 'json-file', Config: {} },
  };
}
