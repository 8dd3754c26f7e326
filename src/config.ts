import { readFileSync, existsSync } from 'node:fs';
import { resolve, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from './errors.js';
import { Pools } from './leases/pool-config.js';
import { checkGithubConfig, GithubConfig } from './github/github-config.js';
import { SlackConfig } from './chat/slack/slack-config.js';
import { ZulipConfig, realmHost as zulipRealmHost } from './chat/zulip/zulip-config.js';
import { WebhookDelivery, WebhookEndpoints } from './events/webhooks/webhook-config.js';
import { NetworkConfig } from './executor/container/egress-policy.js';
import { NodeEnginesConfig } from './executor/swarm/node-engine-address.js';
import { PublishConfig, checkPublishSecrets } from './publish/publish-config.js';
import { AuthConfig } from './http/auth/auth-config.js';
import { ArtifactsConfig } from './artifacts/artifacts-config.js';
import { Environments, environmentProblems } from './deploys/environment-config.js';
import { RepoSecretGrant, grantName, secretScopeProblems } from './pipeline/repo-secret-grants.js';

/** Root of the Bosun installation (where package.json and examples/ live). */
export const installRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const Duration = z.number().int().positive();

export const RepoConfig = z.strictObject({
  /** Clone URL (https://, file://, or a local path). `${dataDir}` is expanded. */
  url: z.string().min(1),
  defaultBranch: z.string().default('master'),
  /**
   * Names of server secrets (`secrets`) this repo's steps may ask for; trusted builds only,
   * delivered as files (docs/secrets.md). Each must have a value. `{ name, environments }`
   * scopes one to deploy environments: only their `run:` deploy step gets it, never a build step.
   */
  secrets: z.array(RepoSecretGrant).default([]),
  /** Anyone may read this repository's builds and logs without signing in (docs/auth.md). */
  public: z.boolean().optional(),
});
export type RepoConfig = z.infer<typeof RepoConfig>;

export const Limits = z.strictObject({
  /** Ceiling for a step's `timeout`; longer requests are clamped (R17). */
  stepTimeoutMaxSec: Duration.default(3600),
  /** Default when the spec says nothing. */
  stepTimeoutDefaultSec: Duration.default(1800),
  cpus: z.number().positive().default(1),
  memoryMb: z.number().int().positive().default(1024),
  pids: z.number().int().positive().default(512),
  /** `/ci build` commands per user per minute (R27). */
  buildsPerMinute: z.number().int().positive().default(10),
  /** Grace between SIGTERM and SIGKILL on cancel/timeout (R17). */
  killGraceSec: z.number().int().nonnegative().default(10),
  /** A stage queued this long with no worker for its labels gets a notice in its thread and `status`. */
  unassignedWarnSec: z.number().int().positive().default(60),
  /** How long a failed or cancelled build keeps its workspace for `retry --failed`. */
  retainFailedWorkspaceSec: z
    .number()
    .int()
    .nonnegative()
    .default(24 * 3600),
});
export type Limits = z.infer<typeof Limits>;

/**
 * Docker Swarm placement. Without `registry` Bosun runs every step on the manager's node
 * (one node: images and the workspace volume are local there). With it, steps go to any node:
 * images are pushed to the registry and referenced by digest, each build's workspace travels
 * as an image layer, and the build network is an overlay.
 */
export const SwarmConfig = z.strictObject({
  /** `host:port` of a registry every node pulls from; set = multi-node. */
  registry: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d+)?$/, 'expected host:port')
    .optional(),
  /** Constraints on every step service (`node.labels.pool==ci`); multi-node only. */
  constraints: z.array(z.string().min(3)).default([]),
  /**
   * Stage label → constraints (`{ arm64: ['node.platform.arch==aarch64'] }`). These labels
   * place a stage's steps on nodes; they do not send the stage to a labelled worker.
   */
  placement: z.record(z.string(), z.array(z.string().min(3))).default({}),
  /** A step no node can take (constraints, drained pool) fails after this long (multi-node). */
  unschedulableAfterSec: z.number().int().positive().default(120),
  /**
   * Node hostname or ID → its engine (`unix:///path.sock`, or `tcp://` on a loopback address):
   * with `sandbox: stage`, a stage sandbox on that node is exec'd through it (docs/sandbox.md).
   * Multi-node only.
   */
  nodeEngines: NodeEnginesConfig.optional(),
});
export type SwarmConfig = z.infer<typeof SwarmConfig>;

/** The warm pool of stage sandboxes (docs/pool.md): `size` 0 (the default) turns it off. */
export const SandboxPoolConfig = z.strictObject({
  /** Ready sandboxes kept per image (each with its own network and workspace volume); 0 = off. */
  size: z.number().int().min(0).max(32).default(0),
  /** Images to keep warm (by reference; resolved to their IDs on the engine). */
  images: z.array(z.string().min(1)).min(1).default(['bosun/base:bookworm']),
  /** With no claim for this long, the pool shrinks to 0 (until the next claim). */
  idleSec: z.number().int().positive().default(600),
});
export type SandboxPoolConfig = z.infer<typeof SandboxPoolConfig>;

/** Why `sandboxPool` cannot run with this config, or undefined. */
function sandboxPoolProblem(c: { sandboxPool: SandboxPoolConfig; executor: string; sandbox: string }): string | undefined {
  if (c.sandboxPool.size === 0) return undefined;
  if (c.executor === 'docker' && c.sandbox === 'stage') return undefined;
  return `sandboxPool needs executor docker and sandbox: stage (executor is ${c.executor}, sandbox is ${c.sandbox}); the swarm executor has no pool yet`;
}

export const ApiToken = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/i),
  token: z.string().min(16, 'API tokens must be at least 16 characters'),
});

export const ServerConfig = z
  .strictObject({
    instanceId: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .default('bosun'),
    dataDir: z.string().default('.data'),
    http: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Public base URL for links in chat and statuses. */
        publicUrl: z.string().optional(),
      })
      .prefault({}),
    /** `redis://…`; unset = an embedded redis-server under dataDir. */
    redisUrl: z.string().optional(),
    executor: z.enum(['auto', 'local', 'docker', 'swarm']).default('auto'),
    /** Container executors: `step`, a new container (service) per step; `stage`, a stage's steps exec'd in one sandbox (docs/sandbox.md). */
    sandbox: z.enum(['stage', 'step']).default('step'),
    /** Warm sandboxes kept ready for builds' first stage (docker executor with `sandbox: stage`; docs/pool.md). */
    sandboxPool: SandboxPoolConfig.prefault({}),
    /** Docker Engine: `unix:///var/run/docker.sock` (default) or `tcp://host:2375`. */
    dockerHost: z.string().default('unix:///var/run/docker.sock'),
    swarm: SwarmConfig.prefault({}),
    /** Where steps' traffic may go (docker and swarm executors); see docs/network.md. */
    network: NetworkConfig.prefault({}),
    /** In-process stage workers started by `bosun start` (0 = front ends only). */
    workers: z.number().int().min(0).default(2),
    /** Labels of this process's workers (`bosun worker --labels macos`). */
    workerLabels: z.array(z.string()).default([]),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    apiTokens: z.array(ApiToken).default([]),
    repos: z.record(z.string(), RepoConfig).default({}),
    /** Secret values by name; redacted from every log and message (R13). */
    secrets: z.record(z.string(), z.string()).default({}),
    limits: Limits.prefault({}),
    /** Stage caches (`cache:` in bosun.yml), kept under `<dataDir>/caches`; see docs/caches.md. */
    caches: z
      .strictObject({
        /** Size cap per repository (all its namespaces); least recently used caches are evicted past it. */
        maxRepoMb: z.number().int().positive().default(2048),
      })
      .prefault({}),
    /** Named groups of actor ids (`slack:T1/U1`, `cli:alice`), used for approvals and admin. */
    groups: z.record(z.string(), z.array(z.string())).default({}),
    /** Passes a checkpoint needs from a group (N of M); default 1. */
    approvals: z.record(z.string(), z.number().int().positive()).default({}),
    /** Resource pools for leases (devices, accounts, lab machines); see src/leases/pool-config.ts. */
    pools: Pools.default({}),
    /** Queue tuning; tests shorten these (R20). */
    queue: z
      .strictObject({
        lockDurationMs: z.number().int().positive().default(30_000),
        stalledIntervalMs: z.number().int().positive().default(30_000),
        maxStalledCount: z.number().int().nonnegative().default(1),
        watchdogIntervalMs: z.number().int().positive().default(10_000),
      })
      .prefault({}),
    /** GitHub webhooks, statuses, merges and promotions; absent = GitHub front end off. */
    github: GithubConfig.optional(),
    /** Slack front end and thread reporter; absent = Slack off. */
    slack: SlackConfig.optional(),
    /** Zulip front end and topic reporter; absent = Zulip off (see docs/zulip.md). */
    zulip: ZulipConfig.optional(),
    /** Outgoing webhooks (Standard Webhooks signatures); see docs/integrations.md. */
    webhooks: WebhookEndpoints.default([]),
    webhookDelivery: WebhookDelivery.prefault({}),
    /** Registries and package indexes `publish:` may upload to, with Bosun's credentials; see docs/publish.md. */
    publish: PublishConfig.prefault({}),
    /** Sign-in, sessions, API token scopes (docs/auth.md). */
    auth: AuthConfig.prefault({}),
    /** Kept files (`artifacts:`) and test reports: caps and retention; see docs/artifacts.md. */
    artifacts: ArtifactsConfig.prefault({}),
    /** Deploy environments (staging, production): targets, approvers, auto-deploy; see docs/deploys.md. */
    environments: Environments.default({}),
  })
  .superRefine((c, ctx) => {
    c.auth.allow.forEach((rule, i) => {
      if (rule.startsWith('group:') && !c.groups[rule.slice('group:'.length)])
        ctx.addIssue({ code: 'custom', path: ['auth', 'allow', i], message: `"${rule}": no such group in groups` });
    });
    for (const [path, message] of environmentProblems(c)) ctx.addIssue({ code: 'custom', path, message });
    for (const [path, message] of secretScopeProblems(c)) ctx.addIssue({ code: 'custom', path, message });
    // A Zulip id that can never match (an email, a name, another realm) would silently lock approvers out.
    for (const [group, members] of Object.entries(c.groups)) {
      members.forEach((id, i) => {
        if (!id.startsWith('zulip:')) return;
        const host = /^zulip:([^/\s]+)\/\d{1,12}$/.exec(id)?.[1];
        if (!host)
          ctx.addIssue({
            code: 'custom',
            path: ['groups', group, i],
            message: `"${id}": Zulip ids are zulip:<realm host>/<user id>, e.g. zulip:chat.example.com/42`,
          });
        else if (c.zulip && host !== zulipRealmHost(c.zulip.realm))
          ctx.addIssue({ code: 'custom', path: ['groups', group, i], message: `"${id}" is not of this Zulip realm (${zulipRealmHost(c.zulip.realm)})` });
      });
    }
    if (!c.swarm.registry && Object.keys(c.swarm.nodeEngines ?? {}).length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['swarm', 'nodeEngines'],
        message: 'only for a multi-node swarm (swarm.registry): on one node every sandbox runs on the engine Bosun talks to',
      });
    }
    const pool = sandboxPoolProblem(c);
    if (pool) ctx.addIssue({ code: 'custom', path: ['sandboxPool', 'size'], message: pool });
    if (c.swarm.registry && c.network.egress !== 'none' && (c.network.proxy?.http || c.network.proxy?.https)) {
      ctx.addIssue({
        code: 'custom',
        path: ['network', 'proxy'],
        message: `not available on a multi-node swarm (swarm.registry is set): steps there reach the outside only through each build's own egress proxy (docs/network.md); remove network.proxy, or set network.egress: none`,
      });
    }
  });
export type ServerConfig = z.infer<typeof ServerConfig>;
export type ServerConfigInput = z.input<typeof ServerConfig>;

/**
 * Loads the server config: the YAML/JSON file at `BOSUN_CONFIG` (if any), then environment
 * overrides. Fails fast with a message naming the bad field. Nothing else reads process.env.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ServerConfigInput = {}): ServerConfig {
  env = withFileSecrets(env);
  const fromFile = env.BOSUN_CONFIG ? readConfigFile(env.BOSUN_CONFIG) : {};
  const merged: Record<string, unknown> = { ...fromFile, ...overrides };
  applyEnv(merged, env);
  defaultEgress(merged);
  const parsed = ServerConfig.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(root)';
    throw new UserError('config_invalid', `invalid server config: ${path}: ${issue?.message ?? 'invalid'}`);
  }
  const config = parsed.data;
  config.dataDir = resolve(config.dataDir);
  for (const repo of Object.values(config.repos)) repo.url = repo.url.replaceAll('${dataDir}', config.dataDir);
  addDemoRepo(config);
  checkGrantedSecrets(config);
  checkPublishSecrets(config.publish, config.secrets);
  if (config.github) checkGithubConfig(config.github);
  return config;
}

/** Every secret a repository is granted has a value (`BOSUN_SECRET_<NAME>`, its `_FILE`, or `secrets:`). */
function checkGrantedSecrets(config: ServerConfig): void {
  for (const [repo, settings] of Object.entries(config.repos)) {
    const missing = [...new Set(settings.secrets.map(grantName))].filter((name) => !Object.hasOwn(config.secrets, name));
    if (missing.length > 0) {
      throw new UserError(
        'config_invalid',
        `invalid server config: repos.${repo}.secrets: ${missing.join(', ')} ${missing.length > 1 ? 'have' : 'has'} no value (set BOSUN_SECRET_${missing[0]} or BOSUN_SECRET_${missing[0]}_FILE)`,
      );
    }
  }
}

/** Variables that may instead be given as `<NAME>_FILE` (Docker secrets under /run/secrets). */
const fileVariables = [
  'BOSUN_API_TOKEN',
  'REDIS_URL',
  'SLACK_BOT_TOKEN',
  'SLACK_APP_TOKEN',
  'SLACK_SIGNING_SECRET',
  'GITHUB_WEBHOOK_SECRET',
  'GITHUB_TOKEN',
  'GITHUB_PRIVATE_KEY',
  'ZULIP_API_KEY',
  'ZULIP_WEBHOOK_TOKEN',
  'BOSUN_SESSION_KEYS',
];

/** Resolves `<NAME>_FILE` into `<NAME>` (the file's content, trailing newline trimmed). */
export function withFileSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of [
    ...fileVariables,
    ...Object.keys(env)
      .filter((k) => k.startsWith('BOSUN_SECRET_') && k.endsWith('_FILE'))
      .map((k) => k.slice(0, -5)),
  ]) {
    const file = env[`${name}_FILE`];
    if (!file || out[name]) continue;
    if (!existsSync(file)) throw new UserError('config_invalid', `${name}_FILE points at ${file}, which does not exist`);
    out[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  }
  return out;
}

function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new UserError('config_invalid', `BOSUN_CONFIG points at ${path}, which does not exist`);
  const value: unknown = parseYaml(readFileSync(path, 'utf8'));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UserError('config_invalid', `${path}: expected a mapping at the top level`);
  }
  return value as Record<string, unknown>;
}

function applyEnv(target: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const http = { ...(target.http as Record<string, unknown> | undefined) };
  if (env.BOSUN_HOST) http.host = env.BOSUN_HOST;
  if (env.BOSUN_PORT) http.port = Number(env.BOSUN_PORT);
  if (env.BOSUN_PUBLIC_URL) http.publicUrl = env.BOSUN_PUBLIC_URL;
  target.http = http;
  if (env.BOSUN_DATA_DIR) target.dataDir = env.BOSUN_DATA_DIR;
  if (env.REDIS_URL) target.redisUrl = env.REDIS_URL;
  if (env.BOSUN_EXECUTOR) target.executor = env.BOSUN_EXECUTOR;
  if (env.BOSUN_SANDBOX) target.sandbox = env.BOSUN_SANDBOX;
  if (env.BOSUN_SANDBOX_POOL) target.sandboxPool = { ...(target.sandboxPool as Record<string, unknown> | undefined), size: Number(env.BOSUN_SANDBOX_POOL) };
  if (env.DOCKER_HOST) target.dockerHost = env.DOCKER_HOST;
  if (env.BOSUN_SWARM_REGISTRY) target.swarm = { ...(target.swarm as Record<string, unknown> | undefined), registry: env.BOSUN_SWARM_REGISTRY };
  if (env.BOSUN_LOG_LEVEL) target.logLevel = env.BOSUN_LOG_LEVEL;
  if (env.BOSUN_EGRESS) target.network = { ...(target.network as Record<string, unknown> | undefined), egress: env.BOSUN_EGRESS };
  if (env.BOSUN_INSTANCE_ID) target.instanceId = env.BOSUN_INSTANCE_ID;
  if (env.BOSUN_WORKERS) target.workers = Number(env.BOSUN_WORKERS);
  if (env.BOSUN_API_TOKEN) {
    const tokens = [...((target.apiTokens as unknown[] | undefined) ?? [])];
    tokens.push({ name: 'env', token: env.BOSUN_API_TOKEN });
    target.apiTokens = tokens;
  }
  if (env.BOSUN_SESSION_KEYS)
    target.auth = { ...(target.auth as Record<string, unknown> | undefined), sessionKeys: env.BOSUN_SESSION_KEYS.split(',').map((k) => k.trim()) };
  const secrets = { ...(target.secrets as Record<string, string> | undefined) };
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('BOSUN_SECRET_') && !key.endsWith('_FILE') && value) secrets[key.slice('BOSUN_SECRET_'.length)] = value;
  }
  target.secrets = secrets;
  if (env.SLACK_BOT_TOKEN) {
    const slack: Record<string, unknown> = { ...(target.slack as Record<string, unknown> | undefined), botToken: env.SLACK_BOT_TOKEN };
    if (env.SLACK_APP_TOKEN) slack.appToken = env.SLACK_APP_TOKEN;
    if (env.SLACK_SIGNING_SECRET) slack.signingSecret = env.SLACK_SIGNING_SECRET;
    if (env.SLACK_API_URL) slack.apiUrl = env.SLACK_API_URL;
    if (env.SLACK_MODE) slack.mode = env.SLACK_MODE;
    target.slack = slack;
  }
  if (env.ZULIP_REALM || env.ZULIP_EMAIL || env.ZULIP_API_KEY) {
    const zulip: Record<string, unknown> = { ...(target.zulip as Record<string, unknown> | undefined) };
    if (env.ZULIP_REALM) zulip.realm = env.ZULIP_REALM;
    if (env.ZULIP_EMAIL) zulip.email = env.ZULIP_EMAIL;
    if (env.ZULIP_API_KEY) zulip.apiKey = env.ZULIP_API_KEY;
    if (env.ZULIP_MODE) zulip.mode = env.ZULIP_MODE;
    if (env.ZULIP_WEBHOOK_TOKEN) zulip.webhookToken = env.ZULIP_WEBHOOK_TOKEN;
    target.zulip = zulip;
  }
  if (env.GITHUB_WEBHOOK_SECRET !== undefined || env.GITHUB_TOKEN || env.GITHUB_API_URL || env.GITHUB_APP_ID || env.GITHUB_PRIVATE_KEY) {
    const github = { ...(target.github as Record<string, unknown> | undefined) };
    if (env.GITHUB_WEBHOOK_SECRET !== undefined) github.webhookSecrets = env.GITHUB_WEBHOOK_SECRET.split(',').map((s) => s.trim());
    if (env.GITHUB_TOKEN) github.token = env.GITHUB_TOKEN;
    if (env.GITHUB_API_URL) github.apiUrl = env.GITHUB_API_URL;
    if (env.GITHUB_APP_ID || env.GITHUB_PRIVATE_KEY) {
      github.app = {
        ...(github.app as Record<string, unknown> | undefined),
        ...(env.GITHUB_APP_ID ? { appId: env.GITHUB_APP_ID } : {}),
        ...(env.GITHUB_PRIVATE_KEY ? { privateKey: env.GITHUB_PRIVATE_KEY } : {}),
      };
    }
    target.github = github;
  }
}

/**
 * `network.egress` defaults to `internet` on one node, and to `none` on a multi-node swarm
 * (`swarm.registry`), where steps go out only through each build's egress proxy on Bosun's
 * node (HTTP and HTTPS only; docs/network.md): an operator opts in.
 */
function defaultEgress(target: Record<string, unknown>): void {
  const swarm = target.swarm as { registry?: unknown } | undefined;
  const network = target.network as Record<string, unknown> | undefined;
  if (!swarm?.registry || (network && network.egress !== undefined)) return;
  target.network = { ...network, egress: 'none' };
}

/** The bundled example repository is always available as `demo` unless configured otherwise. */
function addDemoRepo(config: ServerConfig): void {
  if (config.repos.demo) return;
  config.repos.demo = { url: `file://${join(config.dataDir, 'repos', 'demo.git')}`, defaultBranch: 'master', secrets: [] };
}
