import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo } from '../../support/git-repo.js';
import { testToken } from '../../support/bosun-harness.js';
import type { ServerConfigInput } from '../../../src/config.js';
import { buildIdOf, startSlackBed, type SlackBed } from './slack-test-bed.js';

// A stage asking for a worker label nobody runs used to sit `queued` forever without a word.
const macSpec = [
  'version: 1',
  'image: any',
  'stages:',
  '  mac:',
  '    labels: [macos]',
  '    steps:',
  '      - name: xcode',
  '        run: echo built on a mac',
  '',
].join('\n');

let bed: SlackBed;
before(async () => {
  bed = await startSlackBed('socket', { limits: { unassignedWarnSec: 1 }, queue: { watchdogIntervalMs: 300 } } as ServerConfigInput);
  const repo = await makeRepo(bed.h.dataDir, 'app', { 'bosun.yml': macSpec });
  bed.h.server.core.config.repos.app = { url: repo.url, defaultBranch: 'master', secrets: [] };
});
after(async () => {
  await bed?.stop();
});

test('a stage whose labels no worker has says so in its thread and in `status`, once', async () => {
  const { fake, h } = bed;
  await bed.command('build app#master', 'UDEV', { channel: 'C7' });
  const thread = await fake.waitFor(() => fake.channel('C7')[0], 60_000, 'root message');
  const id = buildIdOf(thread.root.text);
  const notice = 'no worker with the labels macos is running, so this stage waits; start one with `bosun worker --labels macos`';

  const told = await fake.waitFor(
    () => fake.channel('C7')[0]!.replies.find((r) => r.text.includes('no worker with the labels')),
    60_000,
    'the notice in the thread',
  );
  assert.equal(told.text, `:warning: *mac*: ${notice}`);

  const status = await fetch(`${h.url}/api/commands`, {
    method: 'POST',
    headers: { authorization: `Bearer ${testToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text: `status ${id}` }),
  });
  const reply = (await status.json()) as { text: string };
  assert.ok(reply.text.split('\n').includes(`    ⚠ ${notice}`), reply.text);

  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(fake.channel('C7')[0]!.replies.filter((r) => r.text.includes('no worker with the labels')).length, 1, 'said once');
  await h.api('POST', `/api/builds/${id}/cancel`);
});
