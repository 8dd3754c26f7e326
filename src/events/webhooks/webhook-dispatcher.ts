import { randomUUID } from 'node:crypto';
import type { BuildEvent } from '../../domain/build-event.js';
import type { Logger } from '../../logger.js';
import type { WebhookDelivery, WebhookEndpoint } from './webhook-config.js';
import type { WebhookStore } from './webhook-store.js';
import { signWebhook } from './sign-webhook.js';

/** What a delivery attempt came to, for metrics. */
export type AttemptOutcome = 'delivered' | 'failed';

export interface DispatcherDeps {
  store: WebhookStore;
  policy: WebhookDelivery;
  log: Logger;
  /** Publishes the disable notice on the event stream. */
  publish(event: BuildEvent): Promise<unknown>;
  onAttempt?(endpoint: string, outcome: AttemptOutcome, seconds: number): void;
}

/** Waits that `wake()` or `stop()` cut short. */
class Waker {
  private waiters: (() => void)[] = [];
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(
        () => {
          this.waiters = this.waiters.filter((w) => w !== done);
          resolve();
        },
        Math.max(0, ms),
      );
      this.waiters.push(done);
    });
  }
  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const lockTtlMs = 30_000;
const idleWaitMs = 2_000;

/**
 * Exponential backoff with jitter: about `base · 2^(n-1)`, capped, and drawn from its upper
 * half so retries from many endpoints do not line up.
 */
export function backoffMs(failures: number, baseMs: number, capMs: number): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/**
 * Delivers one endpoint's outbox, strictly head first (so in stream order, and in order per
 * build): sign, POST, and only on a 2xx drop the message. A failure is logged and retried with
 * backoff (the next attempt time is kept in Redis, so a restart keeps the schedule); the same
 * `webhook-id` is sent every time. After `disableAfterFailures` failures in a row, or
 * `disableAfterSec` without a success, the endpoint is disabled: what is queued stays queued,
 * no new events are queued, and a notice goes to the log and the event stream
 * (`webhook.disabled`). One process sends for an endpoint at a time (a lock in Redis).
 *
 * Contract: never throws; `stop()` waits for an attempt in flight (bounded by `timeoutMs`).
 */
export function startDispatcher(endpoint: WebhookEndpoint, deps: DispatcherDeps): { wake(): void; stop(): Promise<void> } {
  const { store, policy } = deps;
  const log = deps.log.child({ webhook: endpoint.id });
  const owner = `${process.pid}-${randomUUID()}`;
  const waker = new Waker();
  let stopped = false;

  const notice = async (reason: string, failures: number) => {
    const text = `Outgoing webhook "${endpoint.id}" was disabled: ${reason}. Undelivered events stay queued; re-enable it with POST /api/webhooks/${endpoint.id}/enable.`;
    log.warn({ reason, failures }, 'Outgoing webhook disabled');
    await deps.publish({ type: 'webhook.disabled', webhook: endpoint.id, reason, failures, text });
    await store.markNoticed(endpoint.id);
  };

  const step = async (): Promise<void> => {
    if (!(await store.lock(endpoint.id, owner, lockTtlMs))) return waker.wait(lockTtlMs / 3);
    const state = await store.state(endpoint.id);
    if (state.disabled) {
      if (!state.noticed) await notice(state.reason ?? 'disabled', state.failures);
      return waker.wait(idleWaitMs);
    }
    const due = (state.nextAttemptAt ?? 0) - Date.now();
    if (due > 0) return waker.wait(Math.min(due, lockTtlMs / 3));
    const head = await store.head(endpoint.id);
    if (!head) return waker.wait(idleWaitMs);

    const attempt = await store.countAttempt(endpoint.id);
    const started = performance.now();
    const result = await send(endpoint, head.entry.eventId, head.entry.body, policy.timeoutMs);
    const seconds = (performance.now() - started) / 1000;
    const outcome: AttemptOutcome = result.ok ? 'delivered' : 'failed';
    deps.onAttempt?.(endpoint.id, outcome, seconds);
    await store.log(
      endpoint.id,
      {
        deliveryId: head.entry.eventId,
        type: head.entry.type,
        attempt,
        outcome,
        ...(result.status !== undefined ? { status: result.status } : {}),
        ...(result.error ? { error: result.error } : {}),
        durationMs: Math.round(seconds * 1000),
        at: new Date().toISOString(),
        ...(head.entry.redelivery ? { redelivery: true } : {}),
      },
      policy.logSize,
    );
    if (result.ok) {
      await store.complete(endpoint.id, head.raw);
      if (result.status !== undefined) await store.setLastStatus(endpoint.id, result.status);
      return;
    }
    const streak = state.failures + 1;
    const { failures, failingSinceMs } = await store.recordFailure(
      endpoint.id,
      result.status,
      Date.now() + backoffMs(streak, policy.backoffBaseMs, policy.backoffCapMs),
    );
    const last = result.status !== undefined ? `HTTP ${result.status}` : (result.error ?? 'no answer');
    log.info({ deliveryId: head.entry.eventId, attempt, status: result.status, error: result.error, failures }, 'Webhook delivery failed; will retry');
    if (failures >= policy.disableAfterFailures) {
      await store.disable(endpoint.id, `${failures} failed attempts in a row (last: ${last})`);
    } else if (Date.now() - failingSinceMs >= policy.disableAfterSec * 1000) {
      await store.disable(endpoint.id, `no successful delivery for ${Math.round((Date.now() - failingSinceMs) / 1000)} s (last: ${last})`);
    }
  };

  const run = (async () => {
    while (!stopped) {
      try {
        await step();
      } catch (err) {
        if (stopped) break;
        log.warn({ err }, 'Webhook dispatcher error; retrying');
        await waker.wait(1000);
      }
    }
    await store.unlock(endpoint.id, owner).catch(() => undefined);
  })();

  return {
    wake: () => waker.wake(),
    async stop() {
      stopped = true;
      waker.wake();
      await run;
    },
  };
}

async function send(endpoint: WebhookEndpoint, id: string, body: string, timeoutMs: number): Promise<{ ok: boolean; status?: number; error?: string }> {
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Bosun-Webhooks/1',
    ...signWebhook(endpoint.secret, id, Math.floor(Date.now() / 1000), body),
  };
  try {
    const res = await fetch(endpoint.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer().catch(() => undefined);
    return { ok: res.status >= 200 && res.status < 300, status: res.status };
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
    const error = e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message ?? 'request failed');
    return { ok: false, error };
  }
}
