import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Reply } from '../../commands/command.js';
import type { Build } from '../domain/build.js';
import type { ArtifactFile } from '../domain/artifact.js';

/** Why a request failed, in words a person at a terminal can act on. */
export class ApiError extends Error {
  constructor(
    message: string,
    /** HTTP status, or 0 when the server could not be reached. */
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * A small client for Bosun's HTTP API, used by the CLI (and the benchmark). It speaks
 * node:http rather than fetch: Node 20 loads fetch's implementation on first use, which
 * costs a short-lived command more than the request itself.
 */
export class ApiClient {
  constructor(
    private readonly url: string,
    private readonly token: string | undefined,
  ) {}

  async command(text: string): Promise<Reply> {
    return this.json<Reply>('POST', '/api/commands', { text });
  }

  async build(id: string): Promise<Build> {
    return (await this.json<{ build: Build }>('GET', `/api/builds/${encodeURIComponent(id)}`)).build;
  }

  /** A step's whole log as text. */
  async log(id: string, stage: string, step: string): Promise<string> {
    const res = await this.send('GET', logPath(id, stage, step));
    const body = await readBody(res);
    if (res.statusCode !== 200) throw new ApiError(errorMessage(body, res.statusCode ?? 0), res.statusCode ?? 0);
    return body;
  }

  /** The files a build kept (`artifacts:`). */
  async artifacts(id: string): Promise<ArtifactFile[]> {
    return (await this.json<{ artifacts: ArtifactFile[] }>('GET', `/api/builds/${encodeURIComponent(id)}/artifacts`)).artifacts;
  }

  /** One kept file, as a response to stream (status 200; otherwise an `ApiError`). */
  async artifact(id: string, path: string): Promise<IncomingMessage> {
    const res = await this.send('GET', `/api/builds/${encodeURIComponent(id)}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`);
    if (res.statusCode !== 200) {
      const status = res.statusCode ?? 0;
      throw new ApiError(errorMessage(await readBody(res), status), status);
    }
    return res;
  }

  /** Follows one step's log over SSE, calling `onLine` per line, until it ends. */
  async followLog(id: string, stage: string, step: string, onLine: (text: string) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.send('GET', `${logPath(id, stage, step)}?follow=1`, undefined, signal);
    if (res.statusCode !== 200) {
      const status = res.statusCode ?? 0;
      throw new ApiError(errorMessage(await readBody(res), status), status);
    }
    res.setEncoding('utf8');
    let buf = '';
    for await (const chunk of res as AsyncIterable<string>) {
      buf += chunk;
      let idx: number;
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event === 'end') {
          res.destroy();
          return;
        }
        if (event === 'error' && data) {
          res.destroy();
          throw new ApiError((JSON.parse(data) as { message?: string }).message ?? 'log follow failed', 503);
        }
        if (event === 'line' && data) onLine((JSON.parse(data) as { text: string }).text);
      }
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new ApiError(errorMessage(text, status), status);
    return JSON.parse(text) as T;
  }

  private async send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    const target = new URL(path, `${this.url}/`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const options: RequestOptions = {
      method,
      headers: {
        ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      ...(signal ? { signal } : {}),
    };
    // https only when asked for: loading TLS costs a local call for nothing.
    const request = target.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(target, options, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') return reject(err);
        reject(new ApiError(`cannot reach Bosun at ${this.url} (${err.code ?? err.message})`, 0));
      });
      req.end(payload);
    });
  }
}

function logPath(id: string, stage: string, step: string): string {
  return `/api/builds/${encodeURIComponent(id)}/logs/${encodeURIComponent(stage)}/${encodeURIComponent(step)}`;
}

async function readBody(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res as AsyncIterable<string>) text += chunk;
  return text;
}

function errorMessage(body: string, status: number): string {
  try {
    const parsed = JSON.parse(body) as { message?: string };
    if (parsed.message) return parsed.message;
  } catch {
    // not JSON: fall through
  }
  return `HTTP ${status}`;
}
