import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { build } from 'esbuild';
import { installRoot } from '../../config.js';

/** The web console's script, bundled from `src/http/web/client/console.ts` and its content hash (the ETag). */
export interface ConsoleBundle {
  js: string;
  etag: string;
}

/**
 * Bundles the console's TypeScript with esbuild when the server starts (in memory, never a
 * file in the tree, so it can never be stale): one ES2020 script, minified, ~15 KB. Called
 * once per server; the result is cached by the caller.
 */
export async function bundleConsole(): Promise<ConsoleBundle> {
  const out = await build({
    entryPoints: [join(installRoot, 'src', 'http', 'web', 'client', 'console.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = out.outputFiles[0]?.text ?? '';
  return { js, etag: `"${createHash('sha256').update(js).digest('base64url').slice(0, 16)}"` };
}
