import type { RunStatus } from './status.js';
import type { Actor, BuildError } from './build.js';
import type { LeaseEvent } from './lease-event.js';
import type { DeployEvent } from './deploy.js';

/**
 * Every state change is one of these, published on the durable event stream.
 * Reporters (GitHub, Slack, webhooks, web UI) subscribe; none of them can fail a build.
 */
export type BuildEvent =
  | { type: 'build.created'; buildId: string; repo: string; ref: string; sha: string; actor: Actor; source: string }
  | { type: 'build.status'; buildId: string; status: RunStatus; previous: RunStatus; error?: BuildError }
  | { type: 'stage.status'; buildId: string; stage: string; status: RunStatus; previous: RunStatus }
  /** Why a stage is not moving, for people (no worker has its labels); `text` is plain English. */
  | { type: 'stage.notice'; buildId: string; stage: string; text: string }
  | {
      type: 'step.status';
      buildId: string;
      stage: string;
      step: string;
      status: RunStatus;
      previous: RunStatus;
      exitCode?: number;
      reason?: string;
      /** A sentence on what happened (e.g. which node was lost). */
      detail?: string;
    }
  | { type: 'log.chunk'; buildId: string; stage: string; step: string; lines: string[]; firstLine: number }
  | {
      type: 'checkpoint.waiting';
      buildId: string;
      stage: string;
      instructions: string;
      checklist: string[];
      approvers: string;
      deadline: string;
      resource?: string;
    }
  | { type: 'checkpoint.decided'; buildId: string; stage: string; decision: 'pass' | 'fail' | 'timeout'; actor: Actor }
  | LeaseEvent
  /** A deploy changed state (src/deploys). */
  | DeployEvent
  /** An outgoing webhook stopped after persistent failure (src/events/webhooks). */
  | { type: 'webhook.disabled'; webhook: string; reason: string; failures: number; text: string }
  /**
   * A push (or pull request) Bosun refused before making a build, e.g. a branch name it will
   * not handle. No build exists; `text` says what and why, safe to post once escaped.
   */
  | { type: 'push.refused'; repo: string; sha: string; reason: string; actor: Actor; text: string };

export type BuildEventType = BuildEvent['type'];

/** An event as read back from the stream: its stream id and time added. */
export type StoredEvent = BuildEvent & { id: string; at: string };
