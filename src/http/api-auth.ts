import { createHash, timingSafeEqual } from 'node:crypto';
import type { Actor } from '../domain/build.js';

/**
 * Bearer-token check for the HTTP API: constant-time over SHA-256 digests (so token length
 * leaks nothing). Returns the actor the token stands for, or null.
 */
export function makeTokenAuth(tokens: { name: string; token: string }[]): (header: string | undefined) => Actor | null {
  const known = tokens.map((t) => ({ name: t.name, digest: sha256(t.token) }));
  return (header) => {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    if (!m?.[1]) return null;
    const digest = sha256(m[1]);
    let found: string | null = null;
    for (const t of known) if (timingSafeEqual(t.digest, digest)) found = t.name;
    return found ? { id: `api:${found}`, name: found } : null;
  };
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
