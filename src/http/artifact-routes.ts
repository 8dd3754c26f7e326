import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Core } from '../app/open-core.js';
import { checkArtifactPath, type ArtifactStore } from '../artifacts/artifact-store.js';
import { artifactStoreFor } from '../artifacts/open-artifact-store.js';
import { HttpError } from './api-routes.js';

/**
 * Artifact downloads (`artifacts:`), readable by whoever may read the build (the auth layer's
 * `build` rule: a session or a read-scoped token, or nobody for a public repository):
 * - `GET /api/builds/:id/artifacts`: `{ artifacts: [{ path, stage, step, size, sha256 }] }`;
 * - `GET /api/builds/:id/artifacts/<path>`: the file, streamed, `application/octet-stream`,
 *   with `content-length`, `content-disposition: attachment` and `x-bosun-sha256`. Only a
 *   path the build recorded is served (so `..` and anything not kept is 404).
 */
export function registerArtifactRoutes(app: FastifyInstance, core: Core, store: ArtifactStore = artifactStoreFor(core.config)): void {
  const buildOf = async (req: FastifyRequest) => {
    const id = (req.params as { id?: string }).id ?? '';
    if (!/^\d{1,12}$/.test(id)) throw new HttpError(400, 'bad_request', 'id: expected a build number');
    const build = await core.store.get(id);
    if (!build) throw new HttpError(404, 'unknown_build', `no build #${id}`);
    return build;
  };

  app.get('/api/builds/:id/artifacts', async (req) => {
    const build = await buildOf(req);
    return { artifacts: build.artifacts ?? [] };
  });

  app.get('/api/builds/:id/artifacts/*', async (req, reply) => {
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
