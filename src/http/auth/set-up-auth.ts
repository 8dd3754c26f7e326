import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../app/open-core.js';
import { ApiTokenStore } from './api-token-store.js';
import { registerAuthLayer, type AuthLayer } from './auth-layer.js';
import { registerAuthRoutes } from './auth-routes.js';
import { SignedCodec } from './session-codec.js';

/**
 * Sign-in and authorisation for the HTTP server: the auth layer (hooks) and its routes. Call
 * before any other route is registered, so the hooks cover every route.
 */
export async function setUpAuth(app: FastifyInstance, core: Core): Promise<AuthLayer> {
  const log = core.log.child({ unit: 'auth' });
  const keys = core.config.auth.sessionKeys.length > 0 ? core.config.auth.sessionKeys : [await sessionKeyFile(core.config.dataDir)];
  const codec = new SignedCodec(keys);
  const { slack, github, allow } = core.config.auth;
  if ((slack || github) && allow.length === 0) log.warn('auth: a sign-in provider is configured but auth.allow is empty, so nobody can sign in (docs/auth.md)');
  const tokens = new ApiTokenStore(core.redis, core.prefix);
  const layer = registerAuthLayer(app, {
    config: core.config,
    redis: core.redis,
    prefix: core.prefix,
    codec,
    tokens,
    log,
    buildRepo: async (id) => (await core.store.get(id))?.repo ?? null,
  });
  registerAuthRoutes(app, { config: core.config, layer, codec, tokens, log, audit: (entry) => core.audit.record(entry) });
  return layer;
}

/**
 * With no `auth.sessionKeys` configured, a key made once and kept in `<dataDir>/session-key`
 * (mode 0600): sessions survive restarts. Several Bosun servers behind one URL must share a
 * configured key instead.
 */
async function sessionKeyFile(dataDir: string): Promise<string> {
  const file = join(dataDir, 'session-key');
  let key = await readFile(file, 'utf8').then(
    (t) => t.trim(),
    () => '',
  );
  if (key.length < 32) {
    key = randomBytes(32).toString('base64url');
    await writeFile(file, `${key}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }
  return key;
}
