import { startHarness, type Harness } from '../../support/bosun-harness.js';
import { FakeSlack, type EnvelopeAck } from '../../fakes/fake-slack.js';
import { buttonClick, formBody, interactionBody, signSlack, slashCommand } from '../../fakes/fake-slack-requests.js';
import type { ServerConfigInput } from '../../../src/config.js';

export const signingSecret = 'test-signing-secret-0123456789';

/** A whole Bosun with the Slack front end, talking to a fake Slack in one of the two modes. */
export interface SlackBed {
  h: Harness;
  fake: FakeSlack;
  mode: 'socket' | 'http';
  /** Types `/ci <text>` as `user`; resolves with the ack and how long it took. */
  command(text: string, user: string, opts?: { channel?: string }): Promise<EnvelopeAck>;
  /** Clicks a button on a message. */
  click(actionId: string, value: string, user: string, message: { channel: string; ts: string; thread_ts?: string }): Promise<EnvelopeAck>;
  stop(): Promise<void>;
}

export async function startSlackBed(mode: 'socket' | 'http', overrides: ServerConfigInput = {}, slack: Record<string, unknown> = {}): Promise<SlackBed> {
  const fake = await FakeSlack.start();
  const h = await startHarness({
    ...overrides,
    slack: {
      mode,
      botToken: 'xoxb-test',
      apiUrl: fake.apiUrl,
      logEditIntervalMs: 200,
      logEditsPerMinute: 600,
      ...(mode === 'socket' ? { appToken: 'xapp-test' } : { signingSecret }),
      ...slack,
    },
  } as ServerConfigInput);
  if (mode === 'socket') await fake.connected();

  async function post(path: string, body: string): Promise<EnvelopeAck> {
    const started = Date.now();
    const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: signSlack(signingSecret, body), body });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`Slack route answered ${res.status}: ${text}`);
    return { payload: text, ms: Date.now() - started };
  }

  return {
    h,
    fake,
    mode,
    command: (text, user, opts = {}) => {
      const payload = slashCommand(text, user, opts);
      return mode === 'socket' ? fake.sendEnvelope('slash_commands', payload) : post('/slack/commands', formBody(payload));
    },
    click: (actionId, value, user, message) => {
      const payload = buttonClick(actionId, value, user, message);
      return mode === 'socket' ? fake.sendEnvelope('interactive', payload) : post('/slack/interactivity', interactionBody(payload));
    },
    async stop() {
      await h.stop();
      await fake.stop();
    },
  };
}

/** The build id shown in a root message (`Build #12 …`). */
export function buildIdOf(text: string): string {
  const m = /Build #(\S+)/.exec(text);
  if (!m?.[1]) throw new Error(`no build id in: ${text}`);
  return m[1];
}
