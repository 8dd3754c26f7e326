import type { z } from 'zod';
import {
  BuildSpec,
  Checkpoint,
  DockerPublish,
  NOT_SUPPORTED_KEYS,
  PRIVILEGE_KEYS,
  PypiPublish,
  ResourceRequest,
  Service,
  ServiceLimits,
  ServiceReady,
  Stage,
  Step,
  TriggerFilter,
} from '../../spec-schema/build-spec.js';
import type { Target } from './locate-node.js';

/** A validation problem in human words, with where to point. */
export interface Problem {
  path: PropertyKey[];
  target: Target;
  message: string;
}

const PRIVILEGE_MESSAGE = 'is not allowed in bosun.yml: privileges, mounts and networks come from server config';

const NOT_SUPPORTED_MESSAGES: Record<string, string> = {
  deploy: 'not supported yet: Bosun does not deploy environments yet (deploy from a step, with the secrets it needs)',
};

const KNOWN_KEYS: readonly string[] = [
  'docker',
  'pypi',
  ...Object.keys(BuildSpec.shape),
  ...[Stage, Step, Checkpoint, ResourceRequest, Service, ServiceReady, ServiceLimits, TriggerFilter, DockerPublish, PypiPublish].flatMap((s) =>
    Object.keys(s.shape),
  ),
];

/** Turns zod issues into messages a person can act on ("expected a string", "unknown key `foo`"). */
export function describeIssues(issues: readonly z.core.$ZodIssue[], data: unknown, prefix: PropertyKey[] = []): Problem[] {
  return issues.flatMap((issue) => describeIssue(issue, data, prefix));
}

function describeIssue(issue: z.core.$ZodIssue, data: unknown, prefix: PropertyKey[]): Problem[] {
  const path = [...prefix, ...issue.path];
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && isMissing(data, path)) {
    const key = path[path.length - 1];
    return [{ path: path.slice(0, -1), target: 'value', message: `missing required key \`${String(key)}\`` }];
  }
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: [...path, key], target: 'key', message: unknownKey(key, path) }));
    case 'invalid_key':
      return [{ path, target: 'key', message: issue.issues[0]?.message ?? 'invalid key' }];
    case 'invalid_union':
      return describeUnion(issue, data, path);
    case 'invalid_type':
      return [describeType(issue, path)];
    case 'too_small':
      return [{ path, target: 'value', message: tooSmall(issue) }];
    case 'too_big':
      return [{ path, target: 'value', message: tooBig(issue) }];
    case 'invalid_value':
      return [{ path, target: 'value', message: issue.values.length === 1 ? issue.message : `expected one of ${issue.values.map(String).join(', ')}` }];
    default:
      return [{ path, target: 'value', message: issue.message }];
  }
}

// A union (`run: string | string[]`) fails as a whole unless one branch got past the type
// check and failed deeper down; then that deeper problem is the useful one.
function describeUnion(issue: z.core.$ZodIssueInvalidUnion, data: unknown, path: PropertyKey[]): Problem[] {
  const deeper = issue.errors.find((branch) => branch.length > 0 && branch.every((i) => i.path.length > 0));
  if (deeper) return describeIssues(deeper, data, path);
  return [{ path, target: 'value', message: issue.message }];
}

function describeType(issue: z.core.$ZodIssueInvalidType, path: PropertyKey[]): Problem {
  if (path.length === 0) return { path, target: 'value', message: 'expected a map with `version: 1` and `stages:` at the top level' };
  if (/^Invalid input/.test(issue.message)) return { path, target: 'value', message: `expected ${typeName(issue.expected)}` };
  return { path, target: 'value', message: issue.message };
}

function typeName(expected: string): string {
  switch (expected) {
    case 'string':
      return 'a string';
    case 'number':
    case 'int':
      return 'a number';
    case 'array':
      return 'a list';
    case 'object':
    case 'record':
    case 'map':
      return 'a map';
    case 'boolean':
      return 'true or false';
    default:
      return expected;
  }
}

function tooSmall(issue: z.core.$ZodIssueTooSmall): string {
  if (!/^Too small/.test(issue.message)) return issue.message;
  if (issue.origin === 'array') return issue.minimum === 1 ? 'expected at least one item' : `expected at least ${issue.minimum} items`;
  if (issue.origin === 'string') return 'expected a non-empty string';
  return `expected at least ${issue.minimum}`;
}

function tooBig(issue: z.core.$ZodIssueTooBig): string {
  if (!/^Too big/.test(issue.message)) return issue.message;
  if (issue.origin === 'string') return `expected at most ${issue.maximum} characters`;
  if (issue.origin === 'array') return `expected at most ${issue.maximum} items`;
  return `expected at most ${issue.maximum}`;
}

function unknownKey(key: string, path: PropertyKey[]): string {
  if (NOT_SUPPORTED_KEYS.includes(key)) return NOT_SUPPORTED_MESSAGES[key] ?? 'not supported yet';
  if (key === 'network' && path.length > 0)
    return "`network` goes at the top of bosun.yml (a build's steps and services share one network); there it narrows the server's egress policy, never widens it";
  if (PRIVILEGE_KEYS.includes(key)) return `${key} ${PRIVILEGE_MESSAGE}`;
  if (key === 'secrets' && path.length === 0)
    return '`secrets` goes on a stage or a step (`secrets: [NAME]`); server config decides which ones a repository may use';
  const guess = closest(key);
  return guess ? `unknown key \`${key}\` (did you mean \`${guess}\`?)` : `unknown key \`${key}\``;
}

function closest(key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of KNOWN_KEYS) {
    const d = distance(key.toLowerCase(), known);
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return best;
}

/** Levenshtein distance, for "did you mean"; keys are short. */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 40) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 99;
}

/** True when the parent at `path` exists but has no such key (zod does not say which by default). */
function isMissing(data: unknown, path: readonly PropertyKey[]): boolean {
  if (path.length === 0) return false;
  let node = data;
  for (const seg of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return false;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  const last = path[path.length - 1];
  if (node === null || typeof node !== 'object' || Array.isArray(node) || last === undefined) return false;
  return !Object.hasOwn(node, last);
}
