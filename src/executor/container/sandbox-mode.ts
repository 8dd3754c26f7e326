/**
 * How the container executors run a stage's steps (server config `sandbox`, docs/sandbox.md):
 * `step`, a new isolated container (or one-shot service) per step; `stage`, one sandbox per
 * (stage, image, limits) with each step exec'd in it.
 */
export type SandboxMode = 'stage' | 'step';
