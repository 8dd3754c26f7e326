import type { Build } from '../domain/build.js';
import { findStage } from '../domain/build.js';
import type { SwarmConfig } from '../config.js';
import type { StepPlacement } from '../executor/executor.js';

/**
 * Where a step of `stage` may run (executors that place steps on nodes; see `StepPlacement`):
 * the server's constraints, those of the stage's placement labels, and the node its earlier
 * steps ran on in this attempt (their workspace is there). Undefined when nothing applies.
 */
export function stepPlacement(swarm: SwarmConfig, build: Build, stage: string): StepPlacement | undefined {
  const run = findStage(build, stage);
  if (!run) return undefined;
  const constraints = [...swarm.constraints];
  for (const label of run.labels) constraints.push(...(swarm.placement[label] ?? []));
  const node = [...run.steps].reverse().find((s) => s.status === 'success' && s.node)?.node?.id;
  if (constraints.length === 0 && !node) return undefined;
  return { constraints: [...new Set(constraints)], ...(node ? { node } : {}) };
}

/**
 * The labels that route a stage to labelled workers (`bosun worker --labels macos`): its
 * labels minus the placement labels, which the swarm workers serve by placing steps instead.
 */
export function routingLabels(swarm: SwarmConfig, labels: readonly string[]): string[] {
  return labels.filter((label) => !Object.hasOwn(swarm.placement, label));
}
