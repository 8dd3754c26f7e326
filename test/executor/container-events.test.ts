import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type Docker from 'dockerode';
import { ContainerEvents, parseContainerEvent, type ContainerEvent } from '../../src/executor/swarm/container-events.js';
import { TaskWatcher } from '../../src/executor/swarm/task-watcher.js';
import type { SwarmTask } from '../../src/executor/swarm/swarm-task.js';

const service = 'svc1';
const swarm = { 'com.docker.swarm.task.id': 't1', 'com.docker.swarm.node.id': 'n1' };
const event = (action: string, attributes: Record<string, string>, id = 'c1') =>
  JSON.stringify({ Type: 'container', Action: action, id, Actor: { ID: id, Attributes: { ...swarm, ...attributes } } });
const ids = { serviceId: service, containerId: 'c1', taskId: 't1', nodeId: 'n1' };

describe('parseContainerEvent', () => {
  const table: Array<[string, string, ContainerEvent | undefined]> = [
    ['a task container started', event('start', { 'com.docker.swarm.service.id': service }), { action: 'start', ...ids }],
    ['a task container died, exit 0', event('die', { 'com.docker.swarm.service.id': service, exitCode: '0' }), { action: 'die', ...ids, exitCode: 0 }],
    ['a task container died, exit 137', event('die', { 'com.docker.swarm.service.id': service, exitCode: '137' }), { action: 'die', ...ids, exitCode: 137 }],
    ['die without an exit code', event('die', { 'com.docker.swarm.service.id': service }), undefined],
    ['die with a non-numeric exit code', event('die', { 'com.docker.swarm.service.id': service, exitCode: 'x' }), undefined],
    ['a container of no service', event('die', { exitCode: '0' }), undefined],
    ['another action', event('kill', { 'com.docker.swarm.service.id': service, signal: '15' }), undefined],
    ['not JSON', '{"Action": "die"', undefined],
  ];
  for (const [name, line, want] of table) it(name, () => assert.deepEqual(parseContainerEvent(line), want));
});

/** A Docker client whose event streams the test writes into; records the filters asked for. */
function fakeEvents(): { docker: Docker; streams: PassThrough[]; filters: unknown[] } {
  const streams: PassThrough[] = [];
  const filters: unknown[] = [];
  const docker = {
    getEvents: async (opts: { filters: string }) => {
      filters.push(JSON.parse(opts.filters));
      const stream = new PassThrough();
      streams.push(stream);
      return stream;
    },
  } as unknown as Docker;
  return { docker, streams, filters };
}

const until = async (ok: () => boolean) => {
  for (let i = 0; i < 2000 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(ok());
};

describe('ContainerEvents', () => {
  it("asks for start/die of this instance's step containers, and delivers events split across chunks", async () => {
    const { docker, streams, filters } = fakeEvents();
    const events = new ContainerEvents(docker, 'inst', 20);
    const got: ContainerEvent[] = [];
    events.listen((e) => got.push(e));
    await until(() => streams.length === 1);
    assert.deepEqual(filters[0], { type: ['container'], event: ['start', 'die'], label: ['bosun.managed=true', 'bosun.instance=inst'] });
    assert.equal(events.connected, true);
    const wire = `${event('start', { 'com.docker.swarm.service.id': service })}\n${event('die', { 'com.docker.swarm.service.id': service, exitCode: '3' })}\n`;
    streams[0]!.write(wire.slice(0, 50));
    streams[0]!.write(wire.slice(50, 200));
    streams[0]!.write(wire.slice(200));
    await until(() => got.length === 2);
    assert.deepEqual(
      got.map((e) => e.action),
      ['start', 'die'],
    );
    events.close();
  });

  it('reopens a lost stream while someone listens, and is not connected meanwhile', async () => {
    const { docker, streams } = fakeEvents();
    const events = new ContainerEvents(docker, 'inst', 20);
    const got: ContainerEvent[] = [];
    events.listen((e) => got.push(e));
    await until(() => streams.length === 1);
    streams[0]!.end();
    await until(() => !events.connected);
    await until(() => streams.length === 2 && events.connected);
    streams[1]!.write(`${event('die', { 'com.docker.swarm.service.id': service, exitCode: '0' })}\n`);
    await until(() => got.length === 1);
    events.close();
    assert.equal(events.connected, false);
  });
});

describe('TaskWatcher with container events', () => {
  it("reports a start as running and a die as the task's end with its exit code, before any poll says so", async () => {
    const { docker: eventsDocker, streams } = fakeEvents();
    let polls = 0;
    // The poll always says "running": only the events can end the task here.
    const docker = {
      ...eventsDocker,
      listTasks: async () => {
        polls += 1;
        return [{ ID: 't1', ServiceID: service, Status: { State: 'running', ContainerStatus: { ContainerID: 'c1' } } }];
      },
    } as unknown as Docker;
    const events = new ContainerEvents(eventsDocker, 'inst', 20);
    const watcher = new TaskWatcher(docker, 10, events, 10_000);
    const seen: SwarmTask[][] = [];
    watcher.watch(
      service,
      (tasks) => seen.push(tasks),
      (err) => assert.fail(String(err)),
    );
    watcher.watch(
      'other',
      () => undefined,
      () => undefined,
    );
    await until(() => streams.length === 1 && polls >= 1);
    streams[0]!.write(
      `${event('start', { 'com.docker.swarm.service.id': service })}\n${event('die', { 'com.docker.swarm.service.id': 'unwatched', exitCode: '0' })}\n`,
    );
    streams[0]!.write(`${event('die', { 'com.docker.swarm.service.id': service, exitCode: '2' })}\n`);
    await until(() => seen.some((tasks) => tasks[0]?.Status.State === 'failed'));
    const states = seen.map((tasks) => tasks[0]?.Status.State);
    assert.ok(states.includes('running'));
    const end = seen.find((tasks) => tasks[0]?.Status.State === 'failed')![0]!;
    assert.deepEqual(end.Status.ContainerStatus, { ContainerID: 'c1', ExitCode: 2 });
    // The node comes with the event: the outcome names it even if no poll saw the task placed.
    assert.equal(end.NodeID, 'n1');
    // With events connected the poll slows down to eventIntervalMs (10 s here): one poll only.
    assert.equal(polls, 1);
    watcher.close();
    events.close();
  });
});
