import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSlackBed, buildIdOf, type SlackBed } from './slack-test-bed.js';
import { makeRepo } from '../../support/git-repo.js';
import { actionIds } from '../../../src/chat/slack/render-build.js';
import { makeBuildService } from '../../../src/app/build-service.js';
import type { CommandContext } from '../../../commands/command.js';

let bed: SlackBed;
before(async () => {
  bed = await startSlackBed(
    'socket',
    { limits: { buildsPerMinute: 3, killGraceSec: 2 } },
    {
      defaultChannel: 'CNOTIFY',
      channels: { CNOTIFY: { notify: ['failures', 'approvals'] } },
    },
  );
  const slow = await makeRepo(bed.h.dataDir, 'slow', {
    'bosun.yml': ['version: 1', 'image: any', 'stages:', '  test:', '    steps:', '      - name: wait', '        run: sleep 30', ''].join('\n'),
  });
  const broken = await makeRepo(bed.h.dataDir, 'broken', {
    'bosun.yml': ['version: 1', 'image: any', 'stages:', '  test:', '    steps:', '      - name: unit', '        run: echo nope; exit 1', ''].join('\n'),
  });
  bed.h.server.core.config.repos.slow = { url: slow.url, defaultBranch: 'master', secrets: [] };
  bed.h.server.core.config.repos.broken = { url: broken.url, defaultBranch: 'master', secrets: [] };
});
after(async () => {
  await bed?.stop();
});

const ephemeralsFor = (user: string) => bed.fake.ephemerals.filter((e) => e.user === user).map((e) => e.text);

test("an unknown command gets the nearest command's help, privately", async () => {
  await bed.command('biuld demo', 'UHELP');
  const text = await bed.fake.waitFor(() => ephemeralsFor('UHELP')[0], 60_000, 'help');
  assert.match(text, /Did you mean `build`\?/);
  assert.equal(bed.fake.channel('C1').length, 0, 'nothing public');
});

test('a mention runs the command and answers in its thread, once per event id', async () => {
  const event = {
    type: 'event_callback',
    team_id: 'T1',
    api_app_id: 'A1',
    event_id: 'Ev-mention-1',
    event_time: 1,
    event: { type: 'app_mention', user: 'UMEN', text: '<@UBOT> help build', channel: 'C6', ts: '1700000000.000100', event_ts: '1700000000.000100' },
  };
  await bed.fake.sendEnvelope('events_api', event);
  await bed.fake.sendEnvelope('events_api', event);
  const text = await bed.fake.waitFor(() => ephemeralsFor('UMEN')[0], 60_000, 'mention reply');
  assert.match(text, /build &lt;repo&gt;/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(ephemeralsFor('UMEN').length, 1, 'a redelivered event is answered once');
});

test('Cancel stops the build and the root message offers Retry; Retry starts a new build in the channel', async () => {
  await bed.command('build slow#master', 'UCAN', { channel: 'C7' });
  const thread = await bed.fake.waitFor(() => bed.fake.channel('C7')[0], 60_000, 'root');
  const id = buildIdOf(thread.root.text);
  await bed.h.waitFor(id, (b) => b.status === 'running');

  await bed.click(actionIds.cancel, id, 'UCAN', { channel: 'C7', ts: thread.root.ts });
  const done = await bed.h.waitDone(id, 30_000);
  assert.equal(done.status, 'cancelled');
  const root = await bed.fake.waitFor(
    () => {
      const m = bed.fake.messages.get(thread.root.ts)!;
      return /: cancelled/.test(m.text) ? m : null;
    },
    60_000,
    'cancelled root',
  );
  const buttons = root.blocks!.find((b) => b.type === 'actions').elements.map((e: { action_id: string }) => e.action_id);
  assert.ok(buttons.includes(actionIds.retry));

  await bed.click(actionIds.retry, id, 'UCAN', { channel: 'C7', ts: thread.root.ts });
  const second = await bed.fake.waitFor(() => bed.fake.channel('C7')[1], 60_000, 'retry root');
  const retryId = buildIdOf(second.root.text);
  assert.notEqual(retryId, id);
  // The private reply and the new root race each other: wait for it rather than assume it came first.
  await bed.fake.waitFor(() => ephemeralsFor('UCAN').some((t) => t.includes(`Retrying as build #${retryId}`)) || null, 60_000, 'the Retrying reply');
  await bed.h.waitFor(retryId, (b) => b.status === 'running');
  await bed.click(actionIds.cancel, retryId, 'UCAN', { channel: 'C7', ts: second.root.ts });
  await bed.h.waitDone(retryId, 30_000);
});

test('builds from elsewhere reach the default channel only for the events it asked for (failures, approvals)', async () => {
  const ctx: CommandContext = {
    actor: { id: 'cli:alice', name: 'alice' },
    source: 'cli',
    builds: makeBuildService(bed.h.server.core.deps, bed.h.server.core.redis),
  };
  const ok = await ctx.builds.create({ repo: 'demo', ref: 'master' }, ctx);
  const bad = await ctx.builds.create({ repo: 'broken', ref: 'master' }, ctx);
  await bed.h.waitDone(ok.id);
  await bed.h.waitDone(bad.id);

  const threads = await bed.fake.waitFor(
    () => {
      const t = bed.fake.channel('CNOTIFY');
      return t.length > 0 && t[0]!.files.length > 0 ? t : null;
    },
    60_000,
    'failure notification',
  );
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(threads.length, 1, 'the green build posts nothing');
  assert.equal(buildIdOf(threads[0]!.root.text), bad.id);
  assert.match(threads[0]!.root.text, /: failed/);
  assert.ok(threads[0]!.replies.some((r) => /Step test › unit failed/.test(r.text)));
  assert.ok(!threads[0]!.replies.some((r) => /Stage \*/.test(r.text)), 'no stage chatter in a failures-only channel');
});

test('/ci build is rate-limited per person with a private reply (R27)', async () => {
  for (let i = 0; i < 4; i++) await bed.command('build demo#no-such-ref', 'URATE', { channel: 'C8' });
  const texts = await bed.fake.waitFor(() => (ephemeralsFor('URATE').length === 4 ? ephemeralsFor('URATE') : null), 60_000, 'four replies');
  assert.equal(texts.filter((t) => /slow down/.test(t)).length, 1, texts.join(' | '));
});
