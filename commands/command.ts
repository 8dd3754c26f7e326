import type { Actor, Build } from '../src/domain/build.js';
import type { LogLine } from '../src/logs/log-store.js';
import type { LeaseService } from './lease-service.js';
import type { DeployService } from './deploy-service.js';
import type { NotifyService } from './notify.js';

/** Help for one command, kept beside its code; `help` renders it (Prow help providers). */
export interface CommandHelp {
  usage: string;
  description: string;
  whoCanUse: string;
  examples: string[];
}

/** A platform-neutral command. Nothing here knows Slack, Zulip, HTTP or the terminal. */
export interface Command {
  name: string;
  aliases?: string[];
  help: CommandHelp;
  /** False when this server lacks what the command needs (no resource pools): help leaves it out. Default: available. */
  available?(ctx: CommandContext): boolean;
  run(ctx: CommandContext, args: string[]): Promise<Reply>;
}

/** Where the message came from, as every front end describes it (Prow GenericCommentEvent). */
export interface CommandContext {
  actor: Actor;
  /** `slack`, `zulip`, `cli`, `api`, `github`, `web`. */
  source: string;
  /** Where replies and the build thread go, if the source is a chat. */
  chat?: { platform: string; channel: string; thread?: string };
  /** Inbound event id, for dedupe and audit. */
  eventId?: string;
  builds: BuildService;
  /** Resource leases, when the server has pools (see commands/lease-service.ts). */
  leases?: LeaseService;
  /** Deploys to environments, when the server has environments (see commands/deploy-service.ts). */
  deploys?: DeployService;
  /** GitHub merges and promotions, when GitHub is configured (see commands/merge.ts). */
  github?: GithubCommands;
  /** Per-user DM settings, when Slack or Zulip is configured (see commands/notify.ts). */
  notify?: NotifyService;
  /** The pull request a command was typed on (GitHub PR comments). */
  pullRequest?: { repo: string; number: number };
}

/** The services a front end puts into its contexts beside `builds` (src/app/command-services.ts). */
export type CommandServices = Pick<CommandContext, 'leases' | 'github' | 'notify'>;

/** The narrow GitHub view commands use; implemented in `src/github`. Each returns the reply text. */
export interface GithubCommands {
  merge(target: { repo: string; number: number }, ctx: CommandContext): Promise<string>;
  promote(repo: string, ctx: CommandContext): Promise<{ text: string; build?: Build }>;
  okToTest(pr: { repo: string; number: number }, ctx: CommandContext): Promise<string>;
}

/** The narrow view of the pipeline that commands use; implemented in `src/app`. */
export interface BuildService {
  create(input: { repo: string; ref: string | null }, ctx: CommandContext): Promise<Build>;
  get(id: string): Promise<Build | null>;
  list(opts: { repo?: string; limit?: number }): Promise<Build[]>;
  cancel(id: string, ctx: CommandContext): Promise<Build>;
  retry(id: string, fromFailed: boolean, ctx: CommandContext): Promise<Build>;
  /** Pass or fail a waiting checkpoint (approval). 'recorded' = counted, more passes needed. */
  decide(
    id: string,
    stage: string | undefined,
    decision: 'pass' | 'fail',
    ctx: CommandContext,
  ): Promise<{ build: Build; outcome: 'passed' | 'failed' | 'recorded' }>;
  /** Last lines of a step's log; defaults to the failing or latest step. */
  logTail(id: string, target: { stage?: string; step?: string }, lines: number): Promise<{ stage: string; step: string; lines: LogLine[] } | null>;
  /** Link to the build's page in the web console, if the server has a public URL. */
  buildUrl(id: string): string | undefined;
}

/** What a command answers. `text` may hold untrusted text: every front end escapes it for its medium. */
export interface Reply {
  text: string;
  /** Only the asker should see it (Slack ephemeral, Zulip private). */
  ephemeral?: boolean;
  /** The build the reply is about, for rich rendering (root message, buttons). */
  build?: Build;
  /** Lines to show as a code block (log excerpts). */
  code?: string[];
  kind?: 'ok' | 'error' | 'help';
}
