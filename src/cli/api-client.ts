import type { Reply } from '../../commands/command.js';
import type { Build } from '../domain/build.js';

/** A small client for Bosun's HTTP API, used by the CLI. */
export class ApiClient {
  constructor(
    private readonly url: string,
    private readonly token: string | undefined,
  ) {}

  async command(text: string): Promise<Reply> {
    return this.request<Reply>('POST', '/api/commands', { text });
  }

  async build(id: string): Promise<Build> {
    return (await this.request<{ build: Build }>('GET', `/api/builds/${encodeURIComponent(id)}`)).build;
  }

  /** Follows one step's log over SSE, calling `onLine` per line, until it ends. */
  async followLog(id: string, stage: string, step: string, onLine: (text: string) => void, signal?: AbortSignal): Promise<void> {
    const res = await fetch(`${this.url}/api/builds/${id}/logs/${encodeURIComponent(stage)}/${encodeURIComponent(step)}?follow=1`, { ...(signal ? { signal } : {}) });
    if (!res.ok || !res.body) {
      const json = (await res.json().catch(() => ({}))) as { message?: string };
      throw new Error(json.message ?? `log follow failed: HTTP ${res.status}`);
    }
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let idx: number;
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event === 'end') return;
        if (event === 'error' && data) throw new Error((JSON.parse(data) as { message?: string }).message ?? 'log follow failed');
        if (event === 'line' && data) onLine((JSON.parse(data) as { text: string }).text);
      }
    }
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch {
      throw new Error(`cannot reach Bosun at ${this.url} (is \`bosun start\` running? set BOSUN_URL)`);
    }
    const json = (await res.json().catch(() => ({}))) as T & { message?: string };
    if (!res.ok) throw new Error(json.message ?? `HTTP ${res.status}`);
    return json;
  }
}
