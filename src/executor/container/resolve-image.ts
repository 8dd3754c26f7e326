import type Docker from 'dockerode';
import { UserError } from '../../errors.js';
import { engineError, statusCode } from './docker-errors.js';

/**
 * Resolves an image reference (tag, digest or ID) to the image ID on this engine. Steps are
 * always created from the ID, never a tag: a tag makes Swarm tasks try a public registry.
 * A missing image is a user error (the spec names it); anything else is infrastructure.
 */
export async function resolveImage(docker: Docker, ref: string): Promise<string> {
  try {
    const info = await docker.getImage(ref).inspect();
    return info.Id;
  } catch (err) {
    if (statusCode(err) === 404) {
      throw new UserError('not_found', `image ${ref} is not available on this engine; build or push it`, { cause: err });
    }
    throw engineError(`could not inspect image ${ref}`, err);
  }
}
