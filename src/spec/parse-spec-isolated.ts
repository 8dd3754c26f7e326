/**
 * `parseSpec` in a worker thread with a time limit and a heap ceiling (R26), so a spec that
 * finds a pathological path in the YAML parser costs one dead worker, never the server.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { MAX_SPEC_BYTES, parseSpec, type ParseResult } from './parse-spec.js';

export interface IsolationOptions {
  /** How long parsing may take once the worker is up. */
  timeoutMs?: number;
  /** Heap ceiling for the worker. */
  maxHeapMb?: number;
}

// Starting a worker (and, under tsx, compiling its modules) is not the parse's fault,
// so it gets its own, larger allowance.
const STARTUP_LIMIT_MS = 15_000;

// Compiled, the worker is a .js file beside this one. Under tsx the sources are .ts, and a
// worker thread does not inherit tsx's loader hooks (verified on Node 20), so a tiny eval'd
// worker loads the .ts entry through tsx's own `tsImport`.
function createWorker(resourceLimits: ResourceLimits): Worker {
  const options = { resourceLimits, stdout: false, stderr: false };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./parse-worker.js', import.meta.url), options);
  const api = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./parse-worker.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}));`;
  return new Worker(code, { ...options, eval: true });
}

export async function parseSpecIsolated(text: string | Uint8Array, file = 'bosun.yml', options: IsolationOptions = {}): Promise<ParseResult> {
  // The cap is checked here too so an oversized text is never copied into a worker.
  const size = typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.byteLength;
  if (size > MAX_SPEC_BYTES) return parseSpec(text, file);

  const timeoutMs = options.timeoutMs ?? 2_000;
  const worker = createWorker({ maxOldGenerationSizeMb: options.maxHeapMb ?? 64, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 });
  try {
    return await new Promise<ParseResult>((resolve) => {
      let timer = setTimeout(() => resolve(failure(file, `could not be parsed: the parser did not start within ${STARTUP_LIMIT_MS} ms`)), STARTUP_LIMIT_MS);
      worker.on('message', (msg: unknown) => {
        if (msg === 'ready') {
          clearTimeout(timer);
          timer = setTimeout(() => resolve(failure(file, `took longer than ${timeoutMs} ms to parse`)), timeoutMs);
          worker.postMessage({ text, file });
          return;
        }
        clearTimeout(timer);
        resolve(msg as ParseResult);
      });
      worker.on('error', (err: Error & { code?: string }) => {
        clearTimeout(timer);
        const why = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'needed too much memory to parse' : `could not be parsed: ${err.message}`;
        resolve(failure(file, why));
      });
      worker.on('exit', (code) => {
        clearTimeout(timer);
        resolve(failure(file, `could not be parsed: the parser stopped (exit ${code})`));
      });
    });
  } finally {
    await worker.terminate();
  }
}

function failure(file: string, message: string): ParseResult {
  return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: `${file} ${message}` }] };
}
