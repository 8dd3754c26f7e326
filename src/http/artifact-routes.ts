import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor } from '../domain/build.js';
import type { Core } from '../app/open-core.js';
import { checkArtifactPath, DataDirArtifactStore, type ArtifactStore } from '../artifacts/artifact-store.js';
import { HttpError } from './api-routes.js';

/**
 * Artifact downloads (`artifacts:`), bearer token required:
 * - `GET /api/builds/:id/artifacts`: `{ artifacts: [{ path, stage, step, size, sha256 }] }`;
 * - `GET /api/builds/:id/artifacts/<path>`: the file, streamed, `application/octet-stream`,
 *   with `content-length`, `content-disposition: attachment` and `x-bosun-sha256`. Only a
 *   path the build recorded is served (so `..` and anything not kept is 404).
 */
export function registerArtifactRoutes(app: FastifyInstance, core: Core, auth: (h: string | undefined) => Actor | null, store: ArtifactStore = new DataDirArtifactStore(core.config.dataDir)): void {
  const requireActor = (req: FastifyRequest): void => {
    if (!auth(req.headers.authorization)) throw new HttpError(401, 'unauthorized', 'a valid API token is required (Authorization: Bearer …)');
  };
  const buildOf = async (req: FastifyRequest) => {
    const id = (req.params as { id?: string }).id ?? '';
    if (!/^\d{1,12}$/.test(id)) throw new HttpError(400, 'bad_request', 'id: expected a build number');
    const build = await core.store.get(id);
    if (!build) throw new HttpError(404, 'unknown_build', `no build #${id}`);
    return build;
  };

  app.get('/api/builds/:id/artifacts', async (req) => {
    requireActor(req);
    const build = await buildOf(req);
    return { artifacts: build.artifacts ?? [] };
  });

  app.get('/api/builds/:id/artifacts/*', async (req, reply) => {
    requireActor(req);
    const build = await buildOf(req);
    const raw = (req.params as Record<string, string | undefined>)['*'] ?? '';
    const path = checkArtifactPath(raw);
    const file = path ? build.artifacts?.find((f) => f.path === path) : undefined;
    if (!path || !file) throw new HttpError(404, 'not_found', `build #${build.id} kept no artifact ${raw}`);
    const opened = await store.open(build.repo, build.id, path);
    if (!opened) throw new HttpError(404, 'not_found', `the artifact ${path} of build #${build.id} is no longer stored (retention)`);
    const name = path.split('/').pop() ?? 'artifact';
    return reply
      .type('application/octet-stream')
      .header('content-length', String(opened.size))
      .header('content-disposition', `attachment; filename="${name.replace(/["\\\r\n]/g, '_')}"`)
      .header('x-bosun-sha256', file.sha256)
      .send(opened.stream);
  });
}
