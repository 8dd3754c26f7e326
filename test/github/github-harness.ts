import { startHarness, type Harness } from '../support/bosun-harness.js';
import { FakeGithub } from '../fakes/fake-github.js';
import type { ServerConfigInput } from '../../src/config.js';
import { webhookPath } from '../../src/github/webhook-route.js';

export const secret = 'webhook-secret-0123456789';

export interface GithubHarness {
  h: Harness;
  gh: FakeGithub;
  webhookUrl: string;
  stop(): Promise<void>;
}

/** A whole Bosun with GitHub configured, pointed at a fake GitHub that delivers signed webhooks back. */
export async function startGithubHarness(
  overrides: ServerConfigInput = {},
  github: Record<string, unknown> = {},
  opts: Parameters<typeof startHarness>[1] = {},
  fake: FakeGithub = new FakeGithub(),
): Promise<GithubHarness> {
  const gh = await fake.start();
  const h = await startHarness(
    {
      ...overrides,
      github: { webhookSecrets: [secret], token: 'ghs_faketoken0123456789', apiUrl: gh.url, ...github },
    },
    opts,
  );
  const webhookUrl = `${h.url}${webhookPath}`;
  gh.webhook = { url: webhookUrl, secret };
  return {
    h,
    gh,
    webhookUrl,
    async stop() {
      await gh.stop();
      await h.stop();
    },
  };
}

export const testSpec = ['version: 1', 'image: any', 'stages:', '  test:', '    steps:', '      - name: unit', '        run: echo ok', ''].join('\n');

/** Polls until `pred` holds (for things outside the build record: statuses, comments). */
export async function eventually<T>(fn: () => T | Promise<T>, pred: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await fn();
  while (!pred(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 50));
    last = await fn();
  }
  return last;
}
