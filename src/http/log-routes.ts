import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Build } from '../domain/build.js';
import { isTerminal } from '../domain/status.js';
import type { LogStore } from '../logs/log-store.js';
import type { BuildStore } from '../storage/build-store.js';
import { HttpError } from './api-routes.js';
import { formatLogCursor, logSteps, parseLogCursor, type LogStep } from './log-steps.js';
import { openSse } from './sse.js';

const IdParams = z.object({ id: z.string().regex(/^\d{1,12}$/) });
const LogParams = IdParams.extend({ stage: z.string().min(1).max(100), step: z.string().min(1).max(100) });

/** How often the live stream looks at the build record (step statuses, the end of the build). */
const buildPollMs = 500;
/** A finished build whose logs never got an end marker (a lost worker) ends its stream after this. */
const settleMs = 5000;

export interface LogRouteDeps {
  store: Pick<BuildStore, 'get'>;
  logs: Pick<LogStore, 'rawSource' | 'batchTimes' | 'followSteps'>;
}

/**
 * The web console's log reads, beside the API's per-step routes:
 * - `GET /api/builds/:id/log-stream` (SSE): every log of the build on one connection (a page
 *   must not hold one connection per step: browsers allow six per host). Events: `lines`
 *   `{ s, n, lines, at }` (step index in `logSteps` order, first line number, texts, batch time),
 *   `end` `{ s }`, `step` (a step's status changed), `build` (the build's status), `reload`
 *   (the build was retried: line numbers restart) and `done` (every log has ended; the client
 *   closes). Each `lines`/`end` event's id is the cursor `i:n,…` (last line seen per step), so
 *   a reconnecting EventSource resumes with `Last-Event-ID` with no gap and no repeat; the
 *   first connection passes what it already loaded as `?from=`, and `steps`/`attempt` (how many
 *   logs and which attempt its page shows: a page drawn from an older view is told to reload).
 * - `GET /api/builds/:id/logs/:stage/:step/times`: `{ batches: [[firstLine, epochMs], …] }`.
 */
export function registerLogRoutes(app: FastifyInstance, deps: LogRouteDeps): void {
  app.get('/api/builds/:id/log-stream', async (req, reply) => {
    const { id } = parse(IdParams, req.params);
    const build = await deps.store.get(id);
    if (!build) throw new HttpError(404, 'unknown_build', `no build #${id}`);
    const steps = logSteps(build);
    const header = req.headers['last-event-id'];
    const from = typeof header === 'string' && header !== '' ? header : (req.query as Record<string, unknown>).from;
    const after = parseLogCursor(typeof from === 'string' ? from : undefined, steps.length);
    const sse = openSse(req, reply);
    // The page was drawn from an older view of the build (before its plan was known, or before a
    // retry): it must reload, since the step indexes and line numbers differ.
    const q = req.query as Record<string, unknown>;
    const pageSteps = typeof q.steps === 'string' ? Number(q.steps) : steps.length;
    const pageAttempt = typeof q.attempt === 'string' ? Number(q.attempt) : build.attempt;
    if (pageSteps !== steps.length || pageAttempt !== build.attempt) sse.send('reload', { attempt: build.attempt });
    else await streamLogs(deps, build, steps, after, sse);
    sse.end();
  });

  app.get('/api/builds/:id/logs/:stage/:step/times', async (req) => {
    const p = parse(LogParams, req.params);
    return { batches: await deps.logs.batchTimes(p.id, p.stage, p.step) };
  });
}

async function streamLogs(deps: LogRouteDeps, first: Build, steps: LogStep[], after: number[], sse: ReturnType<typeof openSse>): Promise<void> {
  const ended = new Set<number>();
  const shown = steps.map((s) => JSON.stringify(s));
  let lastPoll = 0;
  let status = first.status;
  let terminalSince = 0;
  for await (const item of deps.logs.followSteps(first.id, steps, after, sse.signal)) {
    if ('lines' in item) {
      after[item.step] = item.lines[item.lines.length - 1]!.n;
      sse.send('lines', { s: item.step, n: item.lines[0]!.n, lines: item.lines.map((l) => l.text), at: item.at }, formatLogCursor(after));
      continue;
    }
    if ('end' in item) {
      ended.add(item.step);
      sse.send('end', { s: item.step }, formatLogCursor(after));
      continue;
    }
    if (Date.now() - lastPoll < buildPollMs) continue;
    lastPoll = Date.now();
    const build = await deps.store.get(first.id);
    if (!build) break;
    const now = logSteps(build);
    // A retry restarts line numbers; a build whose plan was not known yet gains its steps.
    if (build.attempt !== first.attempt || now.map((s) => s.key).join('\n') !== steps.map((s) => s.key).join('\n')) {
      sse.send('reload', { attempt: build.attempt });
      return;
    }
    now.forEach((s, i) => {
      const json = JSON.stringify(s);
      if (i < shown.length && json !== shown[i]) {
        shown[i] = json;
        sse.send('step', { s: i, ...s });
      }
    });
    if (build.status !== status) {
      status = build.status;
      sse.send('build', { status, ...(build.finishedAt ? { finishedAt: build.finishedAt } : {}) });
    }
    if (!isTerminal(build.status)) continue;
    terminalSince ||= Date.now();
    // A finished build: a log that never started will not start, and one still without its
    // end marker after `settleMs` (a lost worker) is as complete as it will get.
    const settled = Date.now() - terminalSince >= settleMs;
    now.forEach((s, i) => {
      if (i >= steps.length || ended.has(i)) return;
      if (!settled && s.status !== 'pending' && s.status !== 'skipped') return;
      ended.add(i);
      sse.send('end', { s: i }, formatLogCursor(after));
    });
    if (ended.size === steps.length) {
      sse.send('done', {});
      return;
    }
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new HttpError(400, 'bad_request', r.error.issues[0]?.message ?? 'invalid');
}
