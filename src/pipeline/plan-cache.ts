import { createHash } from 'node:crypto';
import type { ExecutionPlan } from '../domain/plan.js';

/** Everything a compiled plan depends on. */
export interface PlanSource {
  /** The spec file's bytes and its path in the repository. */
  text: Uint8Array;
  path: string;
  event: string;
  branch: string;
  /** The server's default step timeout, which the plan fills in. */
  timeoutSec: number;
  /** Secret names server config grants the repository (the spec was checked against them). */
  granted?: readonly string[];
  /** The server's egress policy, as JSON (the spec's `network:` was checked against it). */
  network?: string;
}

/**
 * Compiled plans by what they were compiled from, so that builds of an unchanged spec skip
 * parsing and validating the YAML again (most builds of a repository share one `bosun.yml`).
 * Only plans are kept, never errors; the newest `max` stay. `get` and `set` copy, so a caller
 * that changes its plan (or the build records made from it) never changes the cached one.
 */
export class PlanCache {
  readonly #plans = new Map<string, ExecutionPlan>();
  readonly #max: number;

  constructor(max = 64) {
    this.#max = max;
  }

  static key(source: PlanSource): string {
    const digest = createHash('sha256').update(source.text).digest('base64');
    return JSON.stringify([
      digest,
      source.path,
      source.event,
      source.branch,
      source.timeoutSec,
      source.granted ?? [],
      ...(source.network ? [source.network] : []),
    ]);
  }

  get(key: string): ExecutionPlan | undefined {
    const plan = this.#plans.get(key);
    return plan ? structuredClone(plan) : undefined;
  }

  set(key: string, plan: ExecutionPlan): void {
    this.#plans.delete(key);
    this.#plans.set(key, structuredClone(plan));
    if (this.#plans.size > this.#max) this.#plans.delete(this.#plans.keys().next().value!);
  }
}
