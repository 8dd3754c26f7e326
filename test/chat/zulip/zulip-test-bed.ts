import { startHarness, type Harness } from '../../support/bosun-harness.js';
import { FakeZulip } from '../../fakes/fake-zulip.js';
import type { ServerConfigInput } from '../../../src/config.js';

/** A whole Bosun with the Zulip front end, talking to a fake Zulip. */
export interface ZulipBed {
  h: Harness;
  fake: FakeZulip;
  stop(): Promise<void>;
}

export const people = { dev: 7, qa1: 8, qa2: 9, outsider: 10, alice: 11, bob: 12 } as const;

export function zulipSection(fake: FakeZulip, more: Record<string, unknown> = {}): Record<string, unknown> {
  return { realm: fake.url, email: fake.bot.email, apiKey: fake.apiKey, streams: { demo: 'ci' }, logEditIntervalMs: 200, logEditsPerMinute: 600, ...more };
}

export async function startZulipBed(overrides: ServerConfigInput = {}, zulip: Record<string, unknown> = {}, fake?: FakeZulip): Promise<ZulipBed> {
  fake ??= await FakeZulip.start();
  for (const [name, id] of Object.entries(people)) if (!fake.users.has(id)) fake.addUser(id, name === 'dev' ? 'Dana Dev' : name);
  const h = await startHarness({ ...overrides, zulip: zulipSection(fake, zulip) } as ServerConfigInput);
  if ((zulip.mode ?? 'events') === 'events')
    await fake.waitFor(() => fake.calls.some((c) => c.method === 'GET' && c.path === '/api/v1/events'), 60_000, 'an event poll');
  return {
    h,
    fake,
    async stop() {
      await h.stop();
      await fake.stop();
    },
  };
}

/** The build id in a root message (`**Build #12 …`). */
export function buildIdOf(text: string): string {
  const m = /Build #(\d+)/.exec(text);
  if (!m?.[1]) throw new Error(`no build id in: ${text}`);
  return m[1];
}
