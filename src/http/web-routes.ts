import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { installRoot } from '../config.js';
import { redisFree } from './redis-gate.js';

/** The web console: one static page that reads the API (builds, live log tail over SSE). */
export function registerWebRoutes(app: FastifyInstance): void {
  const page = () => readFileSync(join(installRoot, 'src', 'http', 'web', 'index.html'), 'utf8');
  const send = (_req: unknown, reply: { type(t: string): { send(b: string): unknown } }) => reply.type('text/html; charset=utf-8').send(page());
  app.get('/', { config: redisFree }, send);
  app.get('/builds/:id', { config: redisFree }, send);
}
