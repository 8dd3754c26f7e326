import type { App, Receiver } from '@slack/bolt';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../logger.js';
import { verifySlackRequest } from './verify-slack-request.js';

export interface FastifySlackReceiverOptions {
  signingSecret: string;
  windowSec: number;
  log: Logger;
  /** Marks a delivered signature as seen (Redis, TTL ≥ window); false for a replay. */
  firstSeen(id: string): Promise<boolean>;
  now?: () => number;
}

/** Slack's chat routes take at most 1 MiB, refused before buffering (R6). */
const slackBodyLimit = 1024 * 1024;
/** Slack wants an answer within 3 s; listeners ack first, so this is a safety net. */
const ackDeadlineMs = 2500;

/**
 * HTTP mode on Bosun's own fastify server: `/slack/events`, `/slack/commands` and
 * `/slack/interactivity` (all the same handler). Transport only: cap, verify (signature,
 * timestamp both ways, replay), parse, hand to Bolt, answer with the listener's ack.
 */
export class FastifySlackReceiver implements Receiver {
  private bolt: App | undefined;
  constructor(private readonly opts: FastifySlackReceiverOptions) {}

  init(app: App): void {
    this.bolt = app;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  readonly plugin = async (server: FastifyInstance): Promise<void> => {
    await server.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: slackBodyLimit }, (_req, body, done) => done(null, body));
      for (const path of ['/slack/events', '/slack/commands', '/slack/interactivity']) {
        scope.post(path, { bodyLimit: slackBodyLimit }, (req, reply) => this.handle(req, reply));
      }
    });
  };

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const body = typeof req.body === 'string' ? req.body : '';
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const verdict = verifySlackRequest({
      signingSecret: this.opts.signingSecret,
      signature: header('x-slack-signature'),
      timestamp: header('x-slack-request-timestamp'),
      body,
      nowMs: (this.opts.now ?? Date.now)(),
      windowSec: this.opts.windowSec,
    });
    if (!verdict.ok) {
      this.opts.log.warn({ reason: verdict.reason }, 'Slack request refused');
      await reply.code(401).send({ error: verdict.reason });
      return;
    }
    if (!(await this.opts.firstSeen(`sig:${header('x-slack-signature') ?? ''}`))) {
      await reply.code(200).send('');
      return;
    }
    const parsed = parseBody(body, header('content-type') ?? '');
    if (!parsed) {
      await reply.code(400).send({ error: 'malformed body' });
      return;
    }
    if (parsed.type === 'url_verification' && typeof parsed.challenge === 'string') {
      await reply.send({ challenge: parsed.challenge });
      return;
    }
    if (parsed.type === 'ssl_check' || !this.bolt) {
      await reply.code(200).send('');
      return;
    }
    const retryNum = Number(header('x-slack-retry-num'));
    let acked!: (response: unknown) => void;
    const ackPromise = new Promise<unknown>((resolve) => (acked = resolve));
    const timer = setTimeout(() => acked(undefined), ackDeadlineMs);
    void this.bolt
      .processEvent({
        body: parsed,
        ack: async (response?: unknown) => acked(response),
        ...(Number.isFinite(retryNum) ? { retryNum, retryReason: header('x-slack-retry-reason') ?? '' } : {}),
      })
      .catch((err: unknown) => {
        this.opts.log.warn({ err }, 'Slack event handling failed');
        acked(undefined);
      });
    const response = await ackPromise;
    clearTimeout(timer);
    if (response === undefined || response === '') await reply.code(200).send('');
    else if (typeof response === 'string') await reply.code(200).type('text/plain').send(response);
    else await reply.code(200).send(response);
  }
}

function parseBody(body: string, contentType: string): Record<string, unknown> | null {
  try {
    if (contentType.includes('application/json')) return asObject(JSON.parse(body));
    const form = new URLSearchParams(body);
    const payload = form.get('payload');
    if (payload !== null) return asObject(JSON.parse(payload));
    return Object.fromEntries(form);
  } catch {
    return null;
  }
}

function asObject(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}
