import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Server-sent events on a raw response: headers, a comment heartbeat every 15 s (proxies
 * keep the connection), and an AbortSignal that fires when the client goes away.
 */
export function openSse(req: FastifyRequest, reply: FastifyReply): { send(event: string, data: unknown, id?: string): void; signal: AbortSignal; end(): void } {
  const controller = new AbortController();
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(': bosun\n\n');
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  const close = () => {
    clearInterval(heartbeat);
    controller.abort();
  };
  req.raw.on('close', close);
  return {
    signal: controller.signal,
    send(event, data, id) {
      if (controller.signal.aborted) return;
      res.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end() {
      close();
      res.end();
    },
  };
}
