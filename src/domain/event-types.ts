import type { BuildEventType } from './build-event.js';

/** Every event type on the stream, at run time (config validation, filters). */
const eventTypes = [
  'build.created',
  'build.status',
  'stage.status',
  'step.status',
  'log.chunk',
  'checkpoint.waiting',
  'checkpoint.decided',
  'lease.granted',
  'lease.waiting',
  'lease.renewed',
  'lease.released',
  'lease.reminder',
  'lease.expired',
  'lease.item',
  'stage.notice',
  'webhook.disabled',
  'push.refused',
  'deploy.status',
] as const satisfies readonly BuildEventType[];

// Fails to compile when a BuildEvent type is missing from the list above.
type Missing = Exclude<BuildEventType, (typeof eventTypes)[number]>;
const _exhaustive: [Missing] extends [never] ? true : Missing = true;
void _exhaustive;

/**
 * An event filter: an exact type (`step.status`), a family (`build.*`, `lease.*`), or `*`
 * (everything, log chunks included). Returns an error sentence for a pattern that can never
 * match, so config and query strings are refused rather than silently matching nothing.
 */
export function checkEventPattern(pattern: string): string | null {
  if (pattern === '*') return null;
  if (pattern.endsWith('.*')) {
    const family = pattern.slice(0, -1);
    return eventTypes.some((t) => t.startsWith(family)) ? null : `"${pattern}" matches no event type (known: ${eventTypes.join(', ')})`;
  }
  return (eventTypes as readonly string[]).includes(pattern)
    ? null
    : `unknown event type "${pattern}" (known: ${eventTypes.join(', ')}, or a family like build.*)`;
}

/** True when `type` matches one of the patterns (see `checkEventPattern`). */
export function matchesEvent(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}
