import { NetworkRequest } from '../../spec-schema/build-spec.js';
import { narrowPolicy } from '../executor/container/egress-narrowing.js';
import type { NetworkConfig } from '../executor/container/egress-policy.js';
import type { Problem } from './describe-issues.js';

/**
 * Everything in the spec's `network:` that would widen the server's egress policy (R8: the
 * server's policy is the ceiling; a repository may only narrow it). One problem per place,
 * pointing at it. Works on the loaded YAML beside schema validation; a `network:` the schema
 * refuses is the schema's to report.
 */
export function wideningProblems(data: unknown, server: NetworkConfig): Problem[] {
  if (typeof data !== 'object' || data === null || !('network' in data)) return [];
  const request = NetworkRequest.safeParse((data as { network: unknown }).network);
  if (!request.success) return [];
  return narrowPolicy(server, request.data)
    .issues.filter((issue) => issue.kind === 'widening')
    .map((issue) => ({ path: issue.path, target: 'value' as const, message: issue.message }));
}
