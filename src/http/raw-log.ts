import { createReadStream } from 'node:fs';
import type { FastifyReply } from 'fastify';
import type { LogStore } from '../logs/log-store.js';

/**
 * A step's whole log as plain text: streamed from the archive file once the step has ended,
 * else from the live stream. `download` asks the browser to save it. `x-bosun-lines` carries
 * the line count when known up front.
 */
export async function sendRawLog(
  logs: Pick<LogStore, 'rawSource'>,
  reply: FastifyReply,
  p: { id: string; stage: string; step: string },
  download: boolean,
): Promise<FastifyReply> {
  const source = await logs.rawSource(p.id, p.stage, p.step);
  reply.type('text/plain; charset=utf-8').header('x-content-type-options', 'nosniff').header('cache-control', 'no-store');
  if (download) reply.header('content-disposition', `attachment; filename="build-${p.id}-${safeName(p.stage)}-${safeName(p.step)}.log"`);
  if ('file' in source) return reply.send(createReadStream(source.file));
  reply.header('x-bosun-lines', String(source.lines.length));
  return reply.send(source.lines.map((l) => l.text).join('\n') + (source.lines.length ? '\n' : ''));
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}
