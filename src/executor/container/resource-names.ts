import { randomBytes } from 'node:crypto';
import { labelKeys, type StepSpec } from '../executor.js';

/** Lowercase letters, digits and dashes only: valid for containers, services, networks, volumes. */
function slug(value: string, max: number): string {
  const cleaned = value.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return cleaned.slice(0, max) || 'x';
}

/** The build's network: `bosun-b<buildId>`. */
export function buildNetworkName(buildId: string): string {
  return `bosun-b${slug(buildId, 48)}`;
}

/** The build's workspace volume: `bosun-ws-<buildId>`. */
export function workspaceVolumeName(buildId: string): string {
  return `bosun-ws-${slug(buildId, 48)}`;
}

/** The container that marks the workspace volume as fully populated. */
export function workspaceMarkerName(buildId: string): string {
  return `bosun-wsready-${slug(buildId, 48)}`;
}

/** The helper container that fills the workspace volume (renamed to the marker when done). */
export function workspaceFillName(buildId: string): string {
  return `bosun-wsfill-${slug(buildId, 48)}`;
}

/** A unique, DNS-safe name for one run of a step (at most 63 characters, as Swarm requires). */
export function stepResourceName(spec: StepSpec): string {
  const base = `bosun-${slug(spec.buildId, 20)}-${slug(spec.stage, 10)}-${slug(spec.step, 16)}`;
  return `${base}-${randomBytes(4).toString('hex')}`;
}

/** The labels every resource of a step carries. */
export function stepLabels(spec: StepSpec, instanceId: string): Record<string, string> {
  return {
    ...spec.labels,
    [labelKeys.managed]: 'true',
    [labelKeys.instance]: instanceId,
    [labelKeys.build]: spec.buildId,
    [labelKeys.stage]: spec.stage,
    [labelKeys.step]: spec.step,
  };
}

/** The labels of per-build resources (network, workspace volume and its marker). */
export function buildLabels(buildId: string, instanceId: string): Record<string, string> {
  return { [labelKeys.managed]: 'true', [labelKeys.instance]: instanceId, [labelKeys.build]: buildId, 'bosun.role': 'build' };
}
