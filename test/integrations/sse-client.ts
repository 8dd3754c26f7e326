/** One server-sent event as a client sees it. */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads a server-sent event stream with fetch until `stop(events)` is true or `timeoutMs`
 * passes, then disconnects (as a browser's EventSource would on a network drop).
 */
export async function readSse(
  url: string,
  headers: Record<string, string>,
  stop: (events: SseEvent[]) => boolean,
  timeoutMs: number,
  /** Called once the response's headers arrived (the server tails its stream from then on). */
  onOpen?: () => void,
): Promise<{ status: number; events: SseEvent[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: SseEvent[] = [];
  try {
    const res = await fetch(url, { headers, signal: controller.signal });
    onOpen?.();
    if (res.status !== 200 || !res.body) return { status: res.status, events };
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const e: SseEvent = { event: 'message', data: '' };
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) continue;
          const [field, ...rest] = line.split(':');
          const value = rest.join(':').replace(/^ /, '');
          if (field === 'id') e.id = value;
          else if (field === 'event') e.event = value;
          else if (field === 'data') e.data += value;
        }
        if (e.data !== '' || e.id) events.push(e);
      }
      if (stop(events)) break;
    }
    return { status: res.status, events };
  } catch (err) {
    if ((err as Error).name === 'AbortError') return { status: 200, events };
    throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
