/**
 * The build spec (`bosun.yml`): the single source of truth for its shape.
 * `generate.ts` publishes it as JSON Schema for editors; `src/spec/parse-spec.ts` validates with it.
 *
 * The spec is data from the repository, so it can never grant itself privilege (R8): there are
 * no keys for mounts, networks, privileged mode, users or deploy targets. `network:` (top level)
 * only narrows the server's egress policy; what would widen it is an error (checked with the
 * server's policy, see `src/spec/network-narrowing.ts`). Every object is
 * strict, so such keys are rejected (with a specific message, see `PRIVILEGE_KEYS`). A step may
 * name the secrets it needs (`secrets:`), but only server config grants them to a repository:
 * a name it does not grant is an error (checked with the repository's grants, see
 * `src/spec/secret-grants.ts`), and untrusted builds never receive any.
 *
 * `publish` names deliverables Bosun itself builds and uploads after the stage's steps
 * (docs/publish.md); where they go and with which credentials comes from server config.
 * `deploy: <environment>` makes a stage of its own that deploys the image this build published
 * to an environment of server config (docs/deploys.md); the target is never in the spec, and a
 * step cannot deploy (`deploy` on a step is refused, see `NOT_SUPPORTED_KEYS`).
 */
import { z } from 'zod';
import { DURATION_MESSAGE, DURATION_PATTERN, MAX_DURATION_SEC, parseDuration } from './duration.js';

/** Keys people try in order to gain privilege; parse-spec turns them into an R8 error. */
export const PRIVILEGE_KEYS: readonly string[] = [
  'privileged',
  'volumes',
  'volume',
  'mounts',
  'mount',
  'binds',
  'network',
  'networks',
  'network_mode',
  'cap_add',
  'capabilities',
  'devices',
  'device',
  'user',
  'userns_mode',
  'pid',
  'ipc',
  'security_opt',
  'sysctls',
  'extra_hosts',
  'runtime',
  'tmpfs',
  'ulimits',
  'cgroup_parent',
  'docker_socket',
];

// Purely numeric names are refused: JS objects order integer-like keys first, which would lose
// the declaration order that stages rely on.
const NAME_PATTERN = /^(?![0-9]+$)[a-z0-9][a-z0-9_-]{0,62}$/;
const NAME_MESSAGE = 'expected a name of lowercase letters, digits, `-` and `_` (not only digits), at most 63 characters';

const STEP_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const IMAGE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$/;
// `__proto__` and friends are refused by the leading-underscores rule.
const ENV_NAME_PATTERN = /^(?!__)[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const WORKDIR_PATTERN = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/@+-]{1,255}$/;
const BRANCH_GLOB_PATTERN = /^[^\s~^:?[\\]{1,255}$/;

export const Name = z.string({ error: 'expected a string' }).regex(NAME_PATTERN, { error: NAME_MESSAGE });

const DURATION_ERROR = `${DURATION_MESSAGE} (at most 30d)`;

// zod reports a union's inner errors when one branch got past its type check, so each branch
// carries the same human message.
export const Duration = z.union(
  [
    z.int({ error: DURATION_ERROR }).min(1, { error: DURATION_ERROR }).max(MAX_DURATION_SEC, { error: DURATION_ERROR }),
    z
      .string()
      .regex(DURATION_PATTERN, { error: DURATION_ERROR })
      .refine((v) => (parseDuration(v) ?? 0) <= MAX_DURATION_SEC, { error: DURATION_ERROR }),
  ],
  { error: DURATION_ERROR },
);

/** Keys people will write where Bosun does not take them (`deploy` on a step); parse-spec says why instead of ignoring them. */
export const NOT_SUPPORTED_KEYS: readonly string[] = ['deploy'];

// Environment names as server config spells them (src/deploys/environment-config.ts).
const ENVIRONMENT_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const ENVIRONMENT_MESSAGE =
  'expected the name of an environment from server config, like `deploy: staging` (where and how it deploys comes from server config, never from bosun.yml)';
export const EnvironmentName = z.string({ error: ENVIRONMENT_MESSAGE }).regex(ENVIRONMENT_PATTERN, { error: ENVIRONMENT_MESSAGE });

/** Keys a deploy stage (`deploy:`) may have besides `deploy`: it deploys, and does nothing else. */
export const DEPLOY_STAGE_KEYS: readonly string[] = ['deploy', 'on', 'needs'];

const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const SECRET_NAME_MESSAGE = 'expected a secret name from server config (letters, digits and `_`, not starting with a digit)';

export const SecretName = z.string({ error: 'expected a string' }).regex(SECRET_NAME_PATTERN, { error: SECRET_NAME_MESSAGE });

// A name alone (`PYPI_TOKEN`: the file /run/secrets/PYPI_TOKEN) or a name and a variable the
// step's script exports from that file (`{ name: PYPI_TOKEN, env: TWINE_PASSWORD }`).
export const SecretRequest = z.union(
  [
    SecretName,
    z.strictObject({
      name: SecretName,
      env: z
        .string()
        .regex(/^(?!__)(?!BOSUN_)[A-Za-z_][A-Za-z0-9_]{0,127}$/, { error: 'expected an environment variable name (letters, digits, `_`; not BOSUN_*)' })
        .optional(),
    }),
  ],
  { error: 'expected a secret name, or `{ name: NAME, env: VARIABLE }`' },
);

const Secrets = z.array(SecretRequest).min(1).max(50);

// Workspace-relative globs (`dist/**`, `reports/*.xml`): `*` and `?` within a path segment,
// `**` for any number of segments; no leading `/`, no `..` (see src/artifacts/glob-match.ts).
const OUTPUT_GLOB_PATTERN = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/*?@+-]{1,255}$/;
const OutputGlobs = z
  .array(
    z.string().regex(OUTPUT_GLOB_PATTERN, {
      error: 'expected a workspace-relative glob like dist/** or reports/*.xml (letters, digits, `._-@+/*?`; no leading `/`, no `..`)',
    }),
  )
  .min(1)
  .max(50);
const ArtifactGlobs = OutputGlobs.describe(
  'Files to keep from the workspace after this step (also when it fails): downloadable with `bosun artifacts`, and brought into the workspace of stages that `need` this one. Globs: `*`, `?`, `**`.',
);
const ReportGlobs = OutputGlobs.describe(
  'JUnit XML files to read after this step (also when it fails): totals and failing tests go on the build. Globs: `*`, `?`, `**`.',
);

const Image = z.string().regex(IMAGE_PATTERN, { error: 'expected an image reference like node:20 or registry.example/app@sha256:…' });

const Env = z.record(
  z.string().regex(ENV_NAME_PATTERN, { error: 'expected an environment variable name (letters, digits, `_`)' }),
  // Strings only: YAML turns `true`, `1.10` and `0755` into other things; quoting is explicit.
  z.string({ error: 'expected a string (quote numbers and booleans, e.g. "true")' }).max(32768),
);

const StringList = z.array(z.string().min(1, { error: 'expected a non-empty string' }).max(1000));

export const ResourceRequest = z.strictObject({
  pool: Name,
  attributes: z.array(z.string().min(1).max(100)).optional(),
});

export const TriggerFilter = z.strictObject({
  branches: z
    .array(z.string().regex(BRANCH_GLOB_PATTERN, { error: 'expected a branch name or glob like feature/*' }))
    .min(1)
    .optional(),
  events: z
    .array(z.enum(['push', 'pull_request', 'manual', 'promotion', 'downstream']))
    .min(1)
    .optional(),
});

export const Step = z.strictObject({
  name: z.string().regex(STEP_NAME_PATTERN, { error: 'expected a step name of letters, digits, `.`, `-` and `_`' }).describe('Unique within the stage.'),
  image: Image.optional().describe('Container image for this step; defaults to the top-level `image`.'),
  run: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'expected a command or a list of commands' })
    .describe('Shell commands run in order, stopping at the first failure.'),
  env: Env.optional().describe('Environment for this step, over the top-level `env`. Values are strings: quote numbers and booleans.'),
  timeout: Duration.optional().describe('30s, 10m, 4h, 1h30m, 2d or seconds; default 30m. The server may clamp it lower.'),
  workdir: z
    .string()
    .regex(WORKDIR_PATTERN, { error: 'expected a relative path inside the repository (no leading `/`, no `..`)' })
    .optional()
    .describe('Directory to run in, relative to the repository root.'),
  secrets: Secrets.optional().describe(
    'Secrets this step reads, by name (granted to the repository by server config; trusted builds only): files in $BOSUN_SECRETS_DIR (/run/secrets), or also a variable with `{ name, env }`.',
  ),
  idempotent: z
    .boolean({ error: 'expected true or false' })
    .optional()
    .describe(
      'Safe to run twice. After a crash, a step whose outcome Bosun cannot find out is run again only when this is true; otherwise it fails (failed_infra) for you to retry.',
    ),
  fresh: z
    .boolean({ error: 'expected true or false' })
    .optional()
    .describe(
      "Run in a container of its own, never in the stage's sandbox shared with its other steps (server config `sandbox: stage`; docs/sandbox.md). No effect otherwise.",
    ),
  artifacts: ArtifactGlobs.optional(),
  reports: ReportGlobs.optional(),
});

// A service's name is its host name on the build's network: one DNS label (RFC 1123), starting
// with a letter so it can never read as an address.
const SERVICE_NAME_PATTERN = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const ServiceName = z.string({ error: 'expected a string' }).regex(SERVICE_NAME_PATTERN, {
  error: 'expected a service name that is a DNS label: lowercase letters, digits and `-`, starting with a letter, at most 63 characters',
});

/** The most services one stage may ask for. */
export const MAX_SERVICES_PER_STAGE = 8;
/** The longest a stage waits for its services to become ready. */
export const MAX_SERVICE_READY_SEC = 30 * 60;

const Command = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'expected a command or a list of commands' });

export const ServiceReady = z.strictObject({
  run: Command.optional().describe('Shell commands run inside the service container (`/bin/sh -c`); ready once they exit 0.'),
  tcp: z
    .int({ error: 'expected a port number' })
    .min(1, { error: 'expected a port number' })
    .max(65535, { error: 'expected a port number' })
    .optional()
    .describe('Ready once this port is listening inside the service container.'),
  interval: Duration.optional().describe('Time between probes; default 1s.'),
  timeout: Duration.optional().describe('How long the steps wait for the service to become ready before the stage fails; default 60s, at most 30m.'),
  retries: z
    .int({ error: 'expected a whole number from 1 to 100' })
    .min(1, { error: 'expected a whole number from 1 to 100' })
    .max(100, { error: 'expected a whole number from 1 to 100' })
    .optional()
    .describe('Failed probes in a row, once ready, that make the service unhealthy (the stage fails); default 3.'),
});

export const ServiceLimits = z.strictObject({
  cpus: z
    .number({ error: 'expected a number of CPUs like 0.5' })
    .positive({ error: 'expected a number of CPUs like 0.5' })
    .max(64, { error: 'expected at most 64 CPUs' })
    .optional()
    .describe("CPUs for the service; at most the server's step limit."),
  memory: z
    .string({ error: 'expected a size like 256M or 1G' })
    .regex(/^[1-9][0-9]{0,6}[MG]$/, { error: 'expected a size like 256M or 1G' })
    .optional()
    .describe("Memory for the service (M = MiB, G = GiB); at most the server's step limit."),
});

export const Service = z.strictObject({
  image: Image.describe("The server image (run from the engine's local images, like step images)."),
  env: Env.optional().describe('Environment for the service. Values are strings: quote numbers and booleans.'),
  command: z
    .array(z.string().max(1000), { error: 'expected a list of arguments' })
    .min(1)
    .max(100)
    .optional()
    .describe("Arguments replacing the image's CMD (its ENTRYPOINT stays), like Compose `command`."),
  ready: ServiceReady.optional().describe("When the service counts as ready; omitted: the image's HEALTHCHECK if it has one, else once started."),
  limits: ServiceLimits.optional().describe("Lower limits than the server's step limits, which apply otherwise."),
});

export const Checkpoint = z.strictObject({
  instructions: z.string().min(1).max(4000).describe('What to test, posted in the build thread.'),
  checklist: StringList.optional(),
  timeout: Duration.optional().describe(
    "How long to wait for a verdict before failing; default 24h. With a resource, at most the pool's maxTtlSec (server config).",
  ),
  approvers: Name.describe('Approver group from server config.'),
  kind: z
    .enum(['test', 'approval'], { error: 'expected `test` or `approval`' })
    .optional()
    .describe('`test` (default): a manual test people Pass or Fail. `approval`: a go/no-go decision people Approve or Reject. Only the words differ.'),
  resource: ResourceRequest.optional().describe('A resource leased for the tester while the checkpoint waits.'),
});

// `registry.example[:port]/path/name`: the registry host is the first part and must look like a
// host (a dot or a port, or `localhost`), so an image is never pushed somewhere implied; no tag or
// digest (Bosun tags with the commit sha and records the digest).
const PUBLISH_IMAGE_PATTERN = /^(?:localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)+|[a-z0-9.-]+:[0-9]{1,5})(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;
const PUBLISH_IMAGE_MESSAGE =
  'expected an image repository with its registry and no tag, like registry.example/acme/api or 127.0.0.1:5000/acme/api (Bosun tags it with the commit sha)';
const RelativePath = z.string().regex(WORKDIR_PATTERN, { error: 'expected a relative path inside the repository (no leading `/`, no `..`)' });

export const DockerPublish = z.strictObject({
  image: z
    .string({ error: PUBLISH_IMAGE_MESSAGE })
    .max(255)
    .regex(PUBLISH_IMAGE_PATTERN, { error: PUBLISH_IMAGE_MESSAGE })
    .describe('Image repository, registry included (registry.example/acme/api); the registry must be in server config (publish.docker.registries).'),
  dockerfile: RelativePath.optional().describe('Dockerfile, relative to `context`; default `Dockerfile`.'),
  context: RelativePath.optional().describe('Build context, relative to the repository root; default the root.'),
});

export const PypiPublish = z.strictObject({
  repository: Name.describe('Repository name from server config (publish.pypi.repositories).'),
  package_dir: RelativePath.optional().describe(
    'Directory whose `dist/` a step filled with the sdist and wheels, relative to the repository root; default the root.',
  ),
});

export const PublishTarget = z.union([z.strictObject({ docker: DockerPublish }), z.strictObject({ pypi: PypiPublish })], {
  error: 'expected `docker: { image, dockerfile?, context? }` or `pypi: { repository, package_dir? }`',
});

// A cache key: literal text of letters, digits and `._+-`, and `{{ hashFiles('glob', …) }}`
// expressions Bosun evaluates against the build's commit. No `/`, no `..`: it names a file in
// the cache store. Checked again after rendering (src/cache/cache-key.ts).
const CACHE_KEY_TEMPLATE_PATTERN = /^(?:[A-Za-z0-9._+-]|\{\{\s*hashFiles\(\s*'[^'\\]{1,255}'(?:\s*,\s*'[^'\\]{1,255}'){0,19}\s*\)\s*\}\})+$/;
const CACHE_KEY_MESSAGE =
  "expected a key of letters, digits, `.`, `_`, `+`, `-` and `{{ hashFiles('path/or/glob', …) }}` (no `/`, no `..`, no other expressions)";
const CACHE_PREFIX_PATTERN = /^[A-Za-z0-9._+-]{1,200}$/;
// A cache path: relative to the workspace (or `~/…`: the stage's HOME, kept in the workspace),
// never `/…`, `..`, `.git` or the workspace itself.
const CACHE_PATH_PATTERN = /^(?:~\/)?(?![~/])(?!\.git(?:\/|$))(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._@+-]+(?:\/[A-Za-z0-9._@+-]+)*\/?$/;

/** The longest a cache key may be once rendered (a file name in the store, with room to spare). */
export const MAX_CACHE_KEY_LENGTH = 200;

export const CacheKeyTemplate = z
  .string({ error: CACHE_KEY_MESSAGE })
  .max(1000, { error: 'expected a key template of at most 1000 characters' })
  .regex(CACHE_KEY_TEMPLATE_PATTERN, { error: CACHE_KEY_MESSAGE })
  .refine((k) => !k.includes('..'), { error: 'a cache key cannot contain `..`' });

export const CachePath = z
  .string({ error: 'expected a path' })
  .max(255)
  .superRefine((path, ctx) => {
    const problem = cachePathProblem(path);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  // For editors: the same rule as a pattern (the refinement above gives the specific message).
  .meta({ pattern: CACHE_PATH_PATTERN.source });

/** Why `path` cannot be a cache path, in a sentence; undefined when it can. */
export function cachePathProblem(path: string): string | undefined {
  if (path.startsWith('~') && !path.startsWith('~/')) return `cache path ${path}: \`~\` only as \`~/path\` (the steps' HOME), never another user's home`;
  if (path === '~/' || path.startsWith('~//')) return `cache path ${path}: expected a path under HOME, like ~/.cache/pip`;
  if (path.startsWith('/')) return `cache path ${path}: expected a path relative to the workspace, not an absolute one`;
  if (path.split('/').some((part) => part === '..')) return `cache path ${path}: \`..\` would leave the workspace`;
  if (!CACHE_PATH_PATTERN.test(path))
    return `cache path ${path}: expected a relative path inside the workspace (or \`~/path\`) of letters, digits and \`._@+-\` (not \`.\`, not under \`.git\`)`;
  return undefined;
}

export const Cache = z.strictObject({
  key: CacheKeyTemplate.describe(
    "The cache's name, e.g. `pip-{{ hashFiles('requirements.txt') }}`: restored when a cache of exactly this key exists, saved after the stage succeeds when none did. `hashFiles` takes paths or globs (`*`, `**`, `?`) of files in the build's commit.",
  ),
  paths: z
    .array(CachePath)
    .min(1, { error: 'expected at least one path' })
    .max(20, { error: 'expected at most 20 paths' })
    .describe(
      "Directories or files saved in and restored from the cache: relative to the workspace, or `~/…` (then the stage's steps get a HOME kept in the workspace); not absolute, not `..`, not under `.git`.",
    ),
  'restore-keys': z
    .array(
      z
        .string()
        .regex(CACHE_PREFIX_PATTERN, { error: 'expected a key prefix of letters, digits, `.`, `_`, `+` and `-` (no `/`, at most 200 characters)' })
        .refine((k) => !k.includes('..'), { error: 'a restore key cannot contain `..`' }),
    )
    .max(10, { error: 'expected at most 10 restore keys' })
    .optional()
    .describe(
      'Key prefixes tried in order when the key misses: the most recently used cache whose key starts with one is restored (a partial hit), and the stage then saves under the full key.',
    ),
});

// An address or CIDR, optionally with :port, as in server config `network.allow` (no host names:
// the rules match addresses). The same forms as src/executor/container/egress-policy.ts.
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const PORT = '([1-9]\\d{0,3}|[1-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5])';
const NETWORK_TARGET_PATTERN = new RegExp(`^${OCTET}(\\.${OCTET}){3}(/(3[0-2]|[12]?\\d))?(:${PORT})?$`);
const NetworkTarget = z.string({ error: 'expected a string' }).regex(NETWORK_TARGET_PATTERN, {
  error: 'expected an IPv4 address or CIDR, optionally with :port (198.51.100.10:80, 10.1.0.0/16); host names are not supported (rules match addresses)',
});

/**
 * The repository's narrowing of the server's egress policy (server config `network`; R8: the
 * server's policy is the ceiling). Checked against server config when a build starts: anything
 * that would widen it is an error with its line.
 */
export const NetworkRequest = z.strictObject({
  egress: z
    .enum(['internet', 'allowlist', 'none'], { error: 'expected `internet`, `allowlist` or `none`' })
    .optional()
    .describe(
      "`none`: no route out at all. `allowlist`: only `allow` (and DNS). `internet`: what the server allows. Never wider than server config's `network.egress` (internet > allowlist > none). Omitted: the server's.",
    ),
  allow: z
    .array(NetworkTarget)
    .max(100, { error: 'expected at most 100 entries' })
    .optional()
    .describe(
      "With `egress: allowlist`: all the build's steps and services may reach (`198.51.100.10:80`, `198.51.100.0/24`). Each entry must be inside what server config lets steps reach.",
    ),
  deny: z
    .array(NetworkTarget)
    .max(100, { error: 'expected at most 100 entries' })
    .optional()
    .describe("More destinations refused, on top of server config's `network.deny` (which always applies)."),
});
export type NetworkRequest = z.infer<typeof NetworkRequest>;

export const Stage = z.strictObject({
  on: TriggerFilter.optional().describe('When the stage runs; omitted = every trigger.'),
  needs: z.array(Name).optional().describe('Stages that must succeed first.'),
  labels: z.array(Name).optional().describe('Worker labels required (e.g. macos); omitted = any Linux worker.'),
  resources: z.array(ResourceRequest).optional().describe('Resources leased from server-configured pools for the whole stage.'),
  services: z
    .record(ServiceName, Service, { error: 'expected a map of services by name, like `cache: { image: redis:7 }`' })
    .optional()
    .describe('Sidecar containers started before the steps, each reachable from them by its name (`cache:6379`).'),
  steps: z.array(Step).min(1, { error: 'expected at least one step' }).optional().describe('Run in order; the first failure fails the stage.'),
  checkpoint: Checkpoint.optional().describe('A manual test a person passes or fails before the stage completes.'),
  secrets: Secrets.optional().describe("Secrets every step of this stage reads (added to each step's own `secrets`)."),
  publish: z
    .array(PublishTarget)
    .min(1)
    .max(10)
    .optional()
    .describe('Deliverables Bosun builds and uploads once the steps succeed (trusted builds only): Docker images, Python distributions. See docs/publish.md.'),
  cache: Cache.optional().describe('Files restored before the first step and saved after the stage succeeds (docs/caches.md).'),
  artifacts: ArtifactGlobs.optional().describe(
    "Files to keep after the stage's last step that ran (also when the stage fails): downloadable with `bosun artifacts`, and brought into the workspace of stages that `need` this one. Globs: `*`, `?`, `**`.",
  ),
  reports: ReportGlobs.optional().describe("JUnit XML files read after the stage's last step that ran (also when the stage fails). Globs: `*`, `?`, `**`."),
  deploy: EnvironmentName.optional().describe(
    "Deploy the image this build published (a stage it needs has `publish: - docker`) to this environment of server config, by digest, through Bosun's deploys (one at a time, locks, history). A deploy stage has only `deploy`, `needs` and `on`; stages that need it run after the environment runs the new digest. Trusted builds only; not for environments that need approval. See docs/deploys.md.",
  ),
});

export const BuildSpec = z
  .strictObject({
    version: z.literal(1, { error: 'expected `version: 1`' }),
    image: Image.optional().describe('Default image for steps.'),
    env: Env.optional().describe('Environment for every step. Values are strings: quote numbers and booleans.'),
    network: NetworkRequest.optional().describe(
      "Narrows the server's egress policy for this build's steps and services (one build network: set once, here). See docs/network.md.",
    ),
    stages: z
      .record(Name, Stage)
      .refine((s) => Object.keys(s).length > 0, { error: 'expected at least one stage' })
      .describe('Stages in declaration order; `needs` can only move a stage later.'),
  })
  .superRefine(checkSpec);

export type BuildSpec = z.infer<typeof BuildSpec>;
export type Stage = z.infer<typeof Stage>;
export type Step = z.infer<typeof Step>;
export type ResourceRequest = z.infer<typeof ResourceRequest>;
export type TriggerFilter = z.infer<typeof TriggerFilter>;
export type SecretRequest = z.infer<typeof SecretRequest>;
export type Service = z.infer<typeof Service>;
export type ServiceReady = z.infer<typeof ServiceReady>;
export type PublishTarget = z.infer<typeof PublishTarget>;
export type Cache = z.infer<typeof Cache>;

interface SpecShape {
  image?: string;
  network?: NetworkRequest;
  stages: Record<string, Stage>;
}

function checkSpec(spec: SpecShape, ctx: z.RefinementCtx): void {
  checkNetwork(spec.network, ctx);
  for (const [name, stage] of Object.entries(spec.stages)) checkStage(spec, name, stage, ctx);
  const cycle = findCycle(spec.stages);
  if (cycle) {
    const first = cycle[0] ?? '';
    ctx.addIssue({ code: 'custom', path: ['stages', first, 'needs'], message: `needs form a cycle: ${cycle.join(' → ')}` });
  }
}

function checkStage(spec: SpecShape, name: string, stage: Stage, ctx: z.RefinementCtx): void {
  const at = ['stages', name];
  if (!stage.steps && !stage.checkpoint && !stage.publish && !stage.deploy) {
    ctx.addIssue({ code: 'custom', path: at, message: `stage \`${name}\` does nothing: give it steps, a checkpoint, publish or deploy` });
  }
  if (stage.deploy !== undefined) checkDeployStage(spec, name, stage, ctx);
  for (const key of ['artifacts', 'reports'] as const) {
    if (stage[key] && !stage.steps) ctx.addIssue({ code: 'custom', path: [...at, key], message: `${key} are collected after steps: this stage has none` });
  }
  if (stage.secrets && !stage.steps) ctx.addIssue({ code: 'custom', path: [...at, 'secrets'], message: 'secrets are for steps: this stage has none' });
  if (stage.cache && !stage.steps) ctx.addIssue({ code: 'custom', path: [...at, 'cache'], message: 'a cache is for steps: this stage has none' });
  (stage.needs ?? []).forEach((need, i) => {
    if (need === name) ctx.addIssue({ code: 'custom', path: [...at, 'needs', i], message: `stage \`${name}\` cannot need itself` });
    else if (!Object.hasOwn(spec.stages, need)) ctx.addIssue({ code: 'custom', path: [...at, 'needs', i], message: `unknown stage \`${need}\`` });
  });
  const seen = new Set<string>();
  (stage.steps ?? []).forEach((step, i) => {
    if (seen.has(step.name))
      ctx.addIssue({ code: 'custom', path: [...at, 'steps', i, 'name'], message: `duplicate step name \`${step.name}\` in stage \`${name}\`` });
    seen.add(step.name);
    if (!step.image && !spec.image) {
      ctx.addIssue({ code: 'custom', path: [...at, 'steps', i], message: 'no image: set `image` on the step or at the top level' });
    }
    checkSecretVariables(stage.secrets ?? [], step, [...at, 'steps', i], ctx);
  });
  checkServices(spec, name, stage, ctx);
}

/** `allow` goes with `egress: allowlist` only: under `internet` it would open holes (widen), and `none` has no route. */
function checkNetwork(network: NetworkRequest | undefined, ctx: z.RefinementCtx): void {
  if (!network) return;
  if (network.allow && network.egress !== 'allowlist') {
    ctx.addIssue({
      code: 'custom',
      path: ['network', 'allow'],
      message: '`allow` goes with `egress: allowlist` (what steps may reach, and nothing else); a repository narrows the policy, it cannot open holes in it',
    });
  }
  if (network.egress === 'allowlist' && !network.allow) {
    ctx.addIssue({
      code: 'custom',
      path: ['network', 'egress'],
      message: '`egress: allowlist` needs `allow:` (the addresses steps may reach; `[]` for nothing but DNS)',
    });
  }
}

/**
 * A deploy stage only deploys (its steps would run before or after the deploy: a stage that
 * needs it says which), and it deploys what the build published: it must need, directly or
 * not, a stage that publishes a Docker image.
 */
function checkDeployStage(spec: SpecShape, name: string, stage: Stage, ctx: z.RefinementCtx): void {
  for (const key of Object.keys(stage)) {
    if (DEPLOY_STAGE_KEYS.includes(key)) continue;
    ctx.addIssue({
      code: 'custom',
      path: ['stages', name, key],
      message: `a deploy stage only deploys (\`deploy\`, \`needs\`, \`on\`): put \`${key}\` in a stage that needs \`${name}\` (it runs once ${stage.deploy} runs the new image) or one that \`${name}\` needs`,
    });
  }
  const publishers = Object.entries(spec.stages).filter(([other, s]) => other !== name && (s.publish ?? []).some((p) => 'docker' in p));
  if (!publishers.some(([other]) => needsTransitively(spec.stages, name, other))) {
    const hint = publishers.length ? `add \`needs: [${publishers[0]![0]}]\`` : 'give a stage it needs `publish: - docker: { image: … }`';
    ctx.addIssue({
      code: 'custom',
      path: ['stages', name, 'deploy'],
      message: `stage \`${name}\` deploys the image this build publishes, but needs no stage that publishes one: ${hint}`,
    });
  }
}

/** Two secrets cannot be exported as one variable, and a secret's variable cannot also be in `env`. */
function checkSecretVariables(stageSecrets: readonly SecretRequest[], step: Step, at: PropertyKey[], ctx: z.RefinementCtx): void {
  const owner = new Map<string, string>();
  const check = (request: SecretRequest, path: PropertyKey[]): void => {
    if (typeof request === 'string' || !request.env) return;
    const previous = owner.get(request.env);
    if (previous !== undefined && previous !== request.name) {
      ctx.addIssue({ code: 'custom', path: [...path, 'env'], message: `\`${request.env}\` is already set from secret \`${previous}\`` });
    } else if (step.env && Object.hasOwn(step.env, request.env)) {
      ctx.addIssue({ code: 'custom', path: [...path, 'env'], message: `\`${request.env}\` is also in the step's \`env\`; pick one` });
    }
    owner.set(request.env, request.name);
  };
  stageSecrets.forEach((request) => check(request, [...at.slice(0, 2), 'secrets']));
  (step.secrets ?? []).forEach((request, j) => check(request, [...at, 'secrets', j]));
}

function checkServices(spec: SpecShape, name: string, stage: Stage, ctx: z.RefinementCtx): void {
  const services = Object.entries(stage.services ?? {});
  const at = ['stages', name, 'services'];
  if (services.length > MAX_SERVICES_PER_STAGE) {
    ctx.addIssue({ code: 'custom', path: at, message: `expected at most ${MAX_SERVICES_PER_STAGE} services in a stage` });
  }
  if (services.length > 0 && !stage.steps) {
    ctx.addIssue({ code: 'custom', path: at, message: "services are started for the stage's steps: give the stage steps" });
  }
  for (const [service, def] of services) {
    const ready = def.ready;
    if (ready && (ready.run === undefined) === (ready.tcp === undefined)) {
      ctx.addIssue({ code: 'custom', path: [...at, service, 'ready'], message: 'expected exactly one of `run` or `tcp`' });
    }
    if (ready?.timeout !== undefined && (parseDuration(ready.timeout) ?? 0) > MAX_SERVICE_READY_SEC) {
      ctx.addIssue({ code: 'custom', path: [...at, service, 'ready', 'timeout'], message: 'expected at most 30m' });
    }
    // Stages that may run at the same time share the build's network, where a name must be one host.
    const other = Object.entries(spec.stages).find(([o, s]) => o < name && Object.hasOwn(s.services ?? {}, service) && !ordered(spec.stages, o, name));
    if (other) {
      ctx.addIssue({
        code: 'custom',
        path: [...at, service],
        message: `service \`${service}\` is also in stage \`${other[0]}\`, which may run at the same time on the build's network; rename one, or make one stage need the other`,
      });
    }
  }
}

/** True when one stage (transitively) needs the other, so they never run at the same time. */
function ordered(stages: Record<string, Stage>, a: string, b: string): boolean {
  return needsTransitively(stages, a, b) || needsTransitively(stages, b, a);
}

function needsTransitively(stages: Record<string, Stage>, from: string, target: string): boolean {
  const seen = new Set<string>();
  const todo = [...(stages[from]?.needs ?? [])];
  while (todo.length > 0) {
    const next = todo.pop() as string;
    if (next === target) return true;
    if (seen.has(next)) continue;
    seen.add(next);
    todo.push(...(stages[next]?.needs ?? []));
  }
  return false;
}

/** The first `needs` cycle found, as stage names ending where it started; undefined if none. */
function findCycle(stages: Record<string, Stage>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const trail: string[] = [];
  function visit(name: string): string[] | undefined {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'visiting') return [...trail.slice(trail.indexOf(name)), name];
    state.set(name, 'visiting');
    trail.push(name);
    for (const need of stages[name]?.needs ?? []) {
      if (need === name || !Object.hasOwn(stages, need)) continue;
      const found = visit(need);
      if (found) return found;
    }
    trail.pop();
    state.set(name, 'done');
    return undefined;
  }
  for (const name of Object.keys(stages)) {
    const found = visit(name);
    if (found) return found;
  }
  return undefined;
}
