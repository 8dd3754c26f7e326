/** Every Redis key Bosun writes, in one place. `p` is the key prefix (default `bosun`). */
export function keys(p = 'bosun') {
  return {
    buildSeq: `${p}:build:seq`,
    build: (id: string) => `${p}:build:${id}`,
    builds: `${p}:builds`,
    activeBuilds: `${p}:builds:active`,
    repoBuilds: (repo: string) => `${p}:builds:repo:${repo}`,
    dedupe: (key: string) => `${p}:dedupe:${key}`,
    events: `${p}:events`,
    audit: `${p}:audit`,
    log: (build: string, stage: string, step: string) => `${p}:log:${build}:${stage}:${step}`,
    heartbeat: (build: string, stage: string) => `${p}:hb:${build}:${stage}`,
    stageClaim: (build: string, stage: string) => `${p}:claim:${build}:${stage}`,
    control: `${p}:control`,
    rate: (bucket: string) => `${p}:rate:${bucket}`,
    /** Outgoing webhook delivery state: `cursor`, `outbox`, `state`, `log`, `lock`. */
    webhook: (id: string, part: 'cursor' | 'outbox' | 'state' | 'log' | 'lock') => `${p}:webhook:${id}:${part}`,
  };
}
export type Keys = ReturnType<typeof keys>;
