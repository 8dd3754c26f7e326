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
