import { z } from 'zod';
import { UserError } from '../errors.js';

/**
 * Where `publish:` sends deliverables, and with which credentials (server config `publish`).
 * The spec names an image (its registry included) or a repository by name; only what is
 * declared here can be published to, and the credentials never reach a step: a password is
 * the name of a server secret (`secrets:` / `BOSUN_SECRET_<NAME>` / `BOSUN_SECRET_<NAME>_FILE`),
 * so it is redacted from every log like the others. See docs/publish.md.
 */
const SecretName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'expected a secret name (letters, digits, `_`)');

export const RegistryConfig = z.strictObject({
  /** `host[:port]` exactly as it starts image names: `registry.example`, `127.0.0.1:5000`. */
  host: z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)*(:[0-9]{1,5})?$/, 'expected host or host:port (lowercase), as it starts image names'),
  username: z.string().min(1),
  /** Name of the server secret holding the password or token. */
  passwordSecret: SecretName,
  /** Bosun repository keys allowed to publish here; omitted = every configured repository. */
  repos: z.array(z.string().min(1)).optional(),
});
export type RegistryConfig = z.infer<typeof RegistryConfig>;

const HttpUrl = z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'expected an http:// or https:// URL');

export const PypiRepositoryConfig = z.strictObject({
  /** The legacy upload endpoint twine uses (`https://upload.pypi.org/legacy/`, devpi: `https://devpi.example/user/index/`). */
  uploadUrl: HttpUrl,
  /** The PEP 503 simple index of the same repository (`https://pypi.org/simple/`), read to tell "already published" from a conflict. */
  indexUrl: HttpUrl,
  username: z.string().min(1),
  passwordSecret: SecretName,
  repos: z.array(z.string().min(1)).optional(),
});
export type PypiRepositoryConfig = z.infer<typeof PypiRepositoryConfig>;

export const PublishConfig = z.strictObject({
  docker: z
    .strictObject({
      registries: z.array(RegistryConfig).default([]),
      /** Longest an image build and push may take, in seconds. */
      timeoutSec: z.number().int().positive().default(1800),
    })
    .prefault({}),
  pypi: z
    .strictObject({
      /** By name, as `publish: - pypi: { repository: <name> }` refers to them. */
      repositories: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a lowercase name'), PypiRepositoryConfig).default({}),
    })
    .prefault({}),
});
export type PublishConfig = z.infer<typeof PublishConfig>;

/** Every password secret named under `publish` has a value (fails fast at start). */
export function checkPublishSecrets(publish: PublishConfig, secrets: Record<string, string>): void {
  const named = [
    ...publish.docker.registries.map((r, i) => ({ at: `publish.docker.registries[${i}]`, name: r.passwordSecret })),
    ...Object.entries(publish.pypi.repositories).map(([n, r]) => ({ at: `publish.pypi.repositories.${n}`, name: r.passwordSecret })),
  ];
  for (const { at, name } of named) {
    if (!Object.hasOwn(secrets, name)) {
      throw new UserError(
        'config_invalid',
        `invalid server config: ${at}.passwordSecret: secret ${name} has no value (set BOSUN_SECRET_${name} or BOSUN_SECRET_${name}_FILE)`,
      );
    }
  }
}
