import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StepSpec } from '../../src/executor/executor.js';
import { toContainerSpec } from '../../src/executor/docker/to-container-spec.js';
import { toServiceSpec } from '../../src/executor/swarm/to-service-spec.js';
import { toSandboxSpec } from '../../src/executor/docker/to-sandbox-spec.js';
import { stepDnsOptions } from '../../src/executor/container/egress-policy.js';

const spec: StepSpec = {
  buildId: '42',
  stage: 'test',
  step: 'unit',
  image: 'python:3.12',
  commands: ['pytest -q'],
  env: { A: '1' },
  workspace: '/srv/ws/42',
  workdir: 'pkg',
  timeoutSec: 60,
  limits: { cpus: 0.5, memoryBytes: 256 * 2 ** 20, pids: 128 },
  labels: { 'bosun.build': '42' },
};
const imageId = 'sha256:' + 'a'.repeat(64);

describe('toServiceSpec', () => {
  const service = toServiceSpec(spec, {
    name: 'bosun-42-test-unit-abcd',
    image: imageId,
    networkId: 'net1',
    volumeName: 'bosun-ws-42',
    workdir: 'pkg',
    labels: { l: 'v' },
    constraints: ['node.id==node1'],
    stopGraceMs: 10_000,
  });
  const task = service.TaskTemplate as NonNullable<typeof service.TaskTemplate> & { ContainerSpec: NonNullable<unknown> };
  const container = (service.TaskTemplate as { ContainerSpec: Record<string, unknown> }).ContainerSpec;

  it('is a one-shot replicated service that Swarm never restarts (R19)', () => {
    assert.deepEqual(service.Mode, { Replicated: { Replicas: 1 } });
    assert.equal(task.RestartPolicy?.Condition, 'none');
  });

  it('names the image by ID, never by tag', () => {
    assert.equal(container.Image, imageId);
  });

  it('drops every capability, adds none, runs read-only as a non-root user with an init', () => {
    assert.deepEqual(container.CapabilityDrop, ['ALL']);
    assert.deepEqual(container.CapabilityAdd, []);
    assert.equal(container.ReadOnly, true);
    assert.equal(container.User, '1000:1000');
    assert.equal(container.Init, true);
  });

  it('mounts the workspace volume and tmpfs only, never a host path (R15)', () => {
    const mounts = container.Mounts as Array<{ Type: string; Source: string; Target: string }>;
    assert.deepEqual(mounts.map((m) => m.Type).sort(), ['tmpfs', 'tmpfs', 'volume']);
    assert.ok(mounts.every((m) => !m.Source.startsWith('/')));
    assert.equal(container.Dir, '/workspace/pkg');
  });

  it('sets CPU, memory and pids limits (R16) and json-file logs', () => {
    assert.deepEqual(task.Resources?.Limits, { NanoCPUs: 0.5e9, MemoryBytes: 256 * 2 ** 20, Pids: 128 });
    assert.equal(task.LogDriver?.Name, 'json-file');
  });

  it('stops with SIGTERM and the given grace, on the build network, on the workspace node', () => {
    assert.equal(container.StopSignal, 'SIGTERM');
    assert.equal(container.StopGracePeriod, 10_000 * 1e6);
    assert.deepEqual(task.Networks, [{ Target: 'net1' }]);
    assert.deepEqual(task.Placement?.Constraints, ['node.id==node1']);
  });
});

describe('toContainerSpec', () => {
  const container = toContainerSpec(spec, { name: 'c', imageId, networkName: 'net1', volumeName: 'bosun-ws-42', workdir: 'pkg', labels: {} });
  const host = container.HostConfig!;

  it('is unprivileged, capability-free, no-new-privileges, read-only, non-root', () => {
    assert.equal(host.Privileged, false);
    assert.deepEqual(host.CapDrop, ['ALL']);
    assert.deepEqual(host.CapAdd, []);
    assert.deepEqual(host.SecurityOpt, ['no-new-privileges']);
    assert.equal(host.ReadonlyRootfs, true);
    assert.equal(container.User, '1000:1000');
  });

  it('has no binds and only the workspace volume and tmpfs mounts', () => {
    assert.equal(host.Binds, undefined);
    assert.deepEqual(host.Mounts?.map((m) => m.Type).sort(), ['tmpfs', 'tmpfs', 'volume']);
  });

  it('limits CPU, memory without extra swap, and pids', () => {
    assert.equal(host.NanoCpus, 0.5e9);
    assert.equal(host.Memory, 256 * 2 ** 20);
    assert.equal(host.MemorySwap, 256 * 2 ** 20);
    assert.equal(host.PidsLimit, 128);
    assert.equal(host.NetworkMode, 'net1');
  });
});

describe('a step with secrets: the runtime specs carry names and references, never values (R14)', () => {
  const value = 'pypi-token-value-0123';
  const withSecrets: StepSpec = { ...spec, secrets: [{ name: 'PYPI_TOKEN', value, env: ['TWINE_PASSWORD'] }] };

  it('container: a 0700 tmpfs for the step user at /run/secrets, an open stdin once, the directory variable, the export in the script', () => {
    const c = toContainerSpec(withSecrets, { name: 'n', imageId, networkName: 'net', volumeName: 'vol', workdir: 'pkg', labels: {} });

    assert.ok(!JSON.stringify(c).includes(value));
    assert.equal(c.HostConfig?.Tmpfs?.['/run/secrets'], 'rw,noexec,nosuid,nodev,size=1m,uid=1000,gid=1000,mode=0700');
    assert.equal(c.OpenStdin, true);
    assert.equal(c.StdinOnce, true);
    assert.ok(c.Env?.includes('BOSUN_SECRETS_DIR=/run/secrets'));
    assert.match(c.Cmd?.[0] ?? '', /^export TWINE_PASSWORD="\$\(cat '\/run\/secrets\/PYPI_TOKEN'\)"$/m);
  });

  it('container without secrets: no stdin, no secrets tmpfs, no variable', () => {
    const c = toContainerSpec(spec, { name: 'n', imageId, networkName: 'net', volumeName: 'vol', workdir: 'pkg', labels: {} });

    assert.equal(c.OpenStdin, false);
    assert.equal(c.HostConfig?.Tmpfs, undefined);
    assert.ok(!c.Env?.some((e) => e.startsWith('BOSUN_SECRETS_DIR=')));
  });

  it('service: the Docker secrets by reference, and the export in the script', () => {
    const ref = { SecretID: 'sid', SecretName: 'bosun-abc', File: { Name: 'PYPI_TOKEN', UID: '1000', GID: '1000', Mode: 0o400 } };
    const s = toServiceSpec(withSecrets, {
      name: 'n',
      image: imageId,
      networkId: 'net',
      volumeName: 'vol',
      workdir: 'pkg',
      labels: {},
      constraints: [],
      stopGraceMs: 1000,
      secrets: [ref],
    });
    const container = (s.TaskTemplate as { ContainerSpec: { Secrets?: unknown[]; Env?: string[]; Args?: string[] } }).ContainerSpec;

    assert.ok(!JSON.stringify(s).includes(value));
    assert.deepEqual(container.Secrets, [ref]);
    assert.ok(container.Env?.includes('BOSUN_SECRETS_DIR=/run/secrets'));
    assert.match(container.Args?.[0] ?? '', /^export TWINE_PASSWORD="\$\(cat '\/run\/secrets\/PYPI_TOKEN'\)"$/m);
  });
});

describe('resolver options: a lookup the engine cannot answer ends in seconds on an internal network', () => {
  const target = { name: 'n', imageId, networkName: 'net', volumeName: 'vol', workdir: 'pkg', labels: {} };
  const serviceTarget = { name: 'n', image: imageId, networkId: 'net', volumeName: 'vol', workdir: 'pkg', labels: {}, constraints: [], stopGraceMs: 1000 };
  const cases = [
    { egress: 'none' as const, options: ['timeout:1', 'attempts:2'] },
    { egress: 'allowlist' as const, options: [] },
    { egress: 'internet' as const, options: [] },
  ];
  for (const { egress, options } of cases) {
    it(`egress ${egress}: ${options.length ? options.join(' ') : "the resolver's defaults"}`, () => {
      const dnsOptions = stepDnsOptions({ egress });
      assert.deepEqual(dnsOptions, options);
      const c = toContainerSpec(spec, { ...target, dnsOptions });
      assert.deepEqual(c.HostConfig?.DnsOptions, options.length ? options : undefined);
      const sandbox = toSandboxSpec({ ...target, limits: spec.limits, secretsMib: 1, dnsOptions });
      assert.deepEqual(sandbox.HostConfig?.DnsOptions, options.length ? options : undefined);
      const s = toServiceSpec(spec, { ...serviceTarget, dnsOptions, dns: ['10.0.0.53'] });
      const dns = (s.TaskTemplate as { ContainerSpec: { DNSConfig?: unknown } }).ContainerSpec.DNSConfig;
      assert.deepEqual(dns, options.length ? { Nameservers: ['10.0.0.53'], Options: options } : { Nameservers: ['10.0.0.53'] });
    });
  }
});
