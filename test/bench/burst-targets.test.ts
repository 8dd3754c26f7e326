import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { burstTargets, splitReportLines, type AllInOneBurst } from '../../bench/burst-targets.js';
import type { BurstAck, SplitBurst } from '../../bench/split-burst.js';
import { targetRows, verdict } from '../../bench/targets.js';

const ack = (p50: number, p99: number, loopP99: number): BurstAck => ({
  latency: { n: 500, median: p50, p90: p50 * 2, min: 1, max: p99 * 2, p50, p99 },
  statuses: { 202: 500 },
  loopDelayP99Ms: loopP99,
  loopDelayMaxMs: loopP99 * 2,
});

const a: AllInOneBurst = {
  wallMs: 23_000,
  isolatedWallMs: 20_000,
  wallCause: 'per build, most of it: queue 9 of 13 ms (median)',
  cpuPerBuildSec: 0.05,
  childCpuPerBuildSec: 0.12,
  ack: ack(3.6, 70, 41),
};

const b: SplitBurst = {
  builds: 50,
  concurrency: 4,
  wallMs: 22_000,
  serverCpuSec: 0.5,
  serverChildCpuSec: 0,
  workerCpuSec: 2.5,
  workerChildCpuSec: 6,
  machineCpuSec: 40,
  ack: ack(2.1, 12, 8),
  ackCpuSec: 0.4,
  workerLoop: { seq: 2, p50: 10, p99: 45, max: 90, n: 1000 },
  timings: [],
  workerPid: 1234,
};

describe('the burst rows of the targets table', () => {
  it('wall time keeps the all-in-one topology and says so; the split wall time is in its cause', () => {
    const { wall } = burstTargets({ builds: 50, concurrency: 4, a, b });
    assert.match(wall.name, /all-in-one \(server \+ workers in one process\)/);
    assert.equal(wall.value, 23_000);
    assert.equal(verdict(wall), 'MISS');
    assert.match(wall.cause!, /split \(bosun worker apart\): 22000 ms = 1\.10× floor C/);
  });
  it('the webhook ack p99 is the split topology’s, and names the all-in-one p99 and both event loops', () => {
    const { ack: row } = burstTargets({ builds: 50, concurrency: 4, a, b });
    assert.match(row.name, /as deployed \(server apart from the bosun worker process\)/);
    assert.match(row.name, /all-in-one: p99 70 ms/);
    assert.equal(row.value, 12);
    assert.equal(verdict(row), 'PASS');
    assert.match(row.cause!, /server process during the burst: p99 8\.0 ms.*worker process's: p99 45\.0 ms/);
  });
  it('CPU per build counts the server process, the worker process and the worker’s child processes', () => {
    const { cpu } = burstTargets({ builds: 50, concurrency: 4, a, b });
    assert.match(cpu.name, /server process \+ bosun worker process, and their child processes/);
    assert.equal(cpu.value, (0.5 + 0 + 2.5 + 6) / 50);
    const [, row] = targetRows([cpu]);
    assert.equal(row![1], '0.180 CPU-s');
    assert.equal(row![5], "server process 0.010 (webhook acks' CPU taken out), worker process 0.050, its child processes 0.120 CPU-s/build; all-in-one: 0.170");
  });
  it('without the split run, its rows say why and the all-in-one wall time stays', () => {
    const rows = burstTargets({ builds: 50, concurrency: 4, a, unavailable: 'the split topology did not run: worker exited' });
    assert.equal(verdict(rows.wall), 'MISS');
    assert.equal(verdict(rows.cpu), 'not available');
    assert.equal(verdict(rows.ack), 'not available');
    assert.equal(rows.ack.unavailable, 'the split topology did not run: worker exited');
  });
  it('the report names the worker process, its CPU and its event-loop delay, or why the split did not run', () => {
    const text = splitReportLines(b, undefined).join('\n');
    assert.match(text, /bosun worker --concurrency 4` process \(pid 1234\)/);
    assert.match(text, /= 0\.180 CPU-s\/build/);
    assert.match(text, /Event-loop delay of the worker process during the burst: p50 10\.0 ms, p99 45\.0 ms/);
    assert.deepEqual(splitReportLines(undefined, 'boom'), ['Split topology (server + separate bosun worker): did not run: boom']);
    assert.deepEqual(splitReportLines(undefined, undefined), []);
  });
});
