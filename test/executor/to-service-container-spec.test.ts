import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tcpListenScript, toServiceContainerSpec } from '../../src/executor/container/to-service-container-spec.js';
import type { ServiceReadyProbe, ServiceSpec } from '../../src/executor/executor.js';

function serviceSpec(ready: ServiceReadyProbe, more: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    buildId: '7',
    stage: 'test',
    name: 'cache',
    image: 'redis:7',
    env: { A: '1' },
    ready,
    limits: { cpus: 0.5, memoryBytes: 256 * 2 ** 20, pids: 128 },
    labels: { 'bosun.build': '7' },
    ...more,
  };
}
const target = { name: 'bosun-7-test-svc-cache-1', imageId: 'sha256:abc', networkId: 'net1', labels: { 'bosun.build': '7' } };
const timing = { intervalSec: 2, timeoutSec: 30, retries: 4 };

const probes: { name: string; ready: ServiceReadyProbe; test: string[] | undefined }[] = [
  {
    name: 'run: the commands as one shell script that stops at the first failure',
    ready: { kind: 'run', commands: ['redis-cli ping', 'true'], ...timing },
    test: ['CMD-SHELL', 'set -e\nredis-cli ping\ntrue'],
  },
  {
    name: 'tcp: a /bin/sh loop over /proc/net/tcp for the port in LISTEN',
    ready: { kind: 'tcp', port: 6379, ...timing },
    test: ['CMD-SHELL', tcpListenScript(6379)],
  },
  { name: "image: no health check of ours (the image's HEALTHCHECK applies)", ready: { kind: 'image', ...timing }, test: undefined },
];

for (const p of probes) {
  test(`a service's readiness probe — ${p.name}`, () => {
    const spec = toServiceContainerSpec(serviceSpec(p.ready), target);
    const hc = (spec as { Healthcheck?: { Test: string[]; Interval: number; Retries: number; StartPeriod: number } }).Healthcheck;

    assert.deepEqual(hc?.Test, p.test);
    if (hc) assert.deepEqual([hc.Interval, hc.Retries, hc.StartPeriod], [2e9, 4, 30e9], 'failures before the first success do not count');
  });
}

test('a service container is isolated like a step and aliased by its name on the build network', () => {
  const spec = toServiceContainerSpec(serviceSpec({ kind: 'image', ...timing }, { command: ['redis-server', '--port', '6380'] }), target);

  assert.deepEqual(spec.Cmd, ['redis-server', '--port', '6380']);
  assert.equal(spec.Entrypoint, undefined, "the image's entrypoint stays");
  assert.equal(spec.User, '1000:1000');
  const host = spec.HostConfig!;
  assert.deepEqual(
    [host.Privileged, host.CapDrop, host.CapAdd, host.SecurityOpt, host.ReadonlyRootfs, host.Init, host.RestartPolicy, host.NetworkMode],
    [false, ['ALL'], [], ['no-new-privileges'], true, true, { Name: 'no' }, 'net1'],
  );
  assert.deepEqual([host.NanoCpus, host.Memory, host.MemorySwap, host.PidsLimit], [0.5e9, 256 * 2 ** 20, 256 * 2 ** 20, 128]);
  assert.deepEqual(
    host.Mounts?.map((m) => [m.Type, m.Target]),
    [
      ['tmpfs', '/tmp'],
      ['tmpfs', '/home/bosun'],
    ],
    'no workspace, no host path',
  );
  assert.equal(host.Binds, undefined);
  assert.deepEqual(spec.NetworkingConfig, { EndpointsConfig: { net1: { Aliases: ['cache'] } } });
});

test('the tcp probe script finds a listening port and only a listening one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-tcp-probe-'));
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1',
    '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 2 1',
  ].join('\n');
  writeFileSync(join(dir, 'tcp'), `${table}\n`);
  const run = (port: number) => {
    const script = tcpListenScript(port).replace('/proc/net/tcp /proc/net/tcp6', `${dir}/tcp ${dir}/tcp6`);
    try {
      execFileSync('/bin/sh', ['-c', script]);
      return 0;
    } catch (err) {
      return (err as { status: number }).status;
    }
  };

  assert.deepEqual([run(6379), run(8080), run(1)], [0, 1, 1], '6379 listens; 8080 is only an established connection');
});
