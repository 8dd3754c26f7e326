import { randomBytes } from 'node:crypto';
import { labelKeys, type StepSpec } from '../executor.js';

/** Lowercase letters, digits and dashes only: valid for containers, services, networks, volumes. */
function slug(value: string, max: number): string {
  const cleaned = value
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return cleaned.slice(0, max) || 'x';
}

/*
 * Per-build resources are named after the Bosun instance as well as the build: build ids
 * count from 1 in each Redis, so two Bosuns (or test runs) sharing one engine must never
 * meet on `build 1`'s network or, worse, reuse each other's workspace volume.
 */

/** The build's network: `bosun-<instance>-b<buildId>`. */
export function buildNetworkName(instanceId: string, buildId: string): string {
  return `bosun-${slug(instanceId, 20)}-b${slug(buildId, 24)}`;
}

/** The local config-only network that carries a swarm-scoped bridge's options. */
export function buildConfigNetworkName(instanceId: string, buildId: string): string {
  return `bosun-${slug(instanceId, 20)}-netcfg-${slug(buildId, 24)}`;
}

/** The build's workspace volume: `bosun-<instance>-ws-<buildId>`. */
export function workspaceVolumeName(instanceId: string, buildId: string): string {
  return `bosun-${slug(instanceId, 20)}-ws-${slug(buildId, 24)}`;
}

/** The container that marks the workspace volume as fully populated. */
export function workspaceMarkerName(instanceId: string, buildId: string): string {
  return `bosun-${slug(instanceId, 20)}-wsready-${slug(buildId, 24)}`;
}

/** The helper container that fills the workspace volume (renamed to the marker when done). */
export function workspaceFillName(instanceId: string, buildId: string): string {
  return `bosun-${slug(instanceId, 20)}-wsfill-${slug(buildId, 24)}`;
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

/** Multi-node egress: the build's routed network its egress proxy goes out by (`bosun-<instance>-egress-<buildId>`). */
export function egressNetworkName(instanceId: string, buildId: string): string {
  return `bosun-${slug(instanceId, 20)}-egress-${slug(buildId, 24)}`;
}

/** The config-only network that carries the egress network's bridge options. */
export function egressConfigNetworkName(instanceId: string, buildId: string): string {
  return `bosun-${slug(instanceId, 20)}-egcfg-${slug(buildId, 24)}`;
}

/** Multi-node egress: the build's egress proxy service. */
export function egressProxyName(instanceId: string, buildId: string): string {
  return `bosun-${slug(instanceId, 20)}-egproxy-${slug(buildId, 24)}`;
}
