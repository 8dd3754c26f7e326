import { test, before, after } from 'node:test';
import { startSlackBed, type SlackBed } from './slack-test-bed.js';
import { leakedSecret, scenarioFailingBuild, scenarioGreenBuild } from './build-thread-scenario.js';
import { checkpointConfig, scenarioCheckpoint } from './checkpoint-scenario.js';

let bed: SlackBed;
before(async () => {
  bed = await startSlackBed('socket', { secrets: { LEAKY: leakedSecret }, ...checkpointConfig });
});
after(async () => {
  await bed?.stop();
});

test('socket mode: /ci build demo#master acks at once and tells the build in one thread', async () => {
  await scenarioGreenBuild(bed);
});

test('socket mode: a failing build leaves the failing lines, a link and the log file in its thread', async () => {
  await scenarioFailingBuild(bed);
});

test('socket mode: a checkpoint refuses the requester and outsiders and accepts one approver click once', async () => {
  await scenarioCheckpoint(bed, 'C3');
});
