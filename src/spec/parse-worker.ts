/**
 * Worker-thread entry for `parseSpecIsolated`: announces it is ready, parses the one text it
 * is sent, posts the ParseResult back and exits.
 */
import { parentPort } from 'node:worker_threads';
import { parseSpec } from './parse-spec.js';

interface ParseRequest {
  text: Uint8Array | string;
  file: string;
}

function start(): void {
  const port = parentPort;
  if (!port) return;
  port.once('message', (req: ParseRequest) => {
    port.postMessage(parseSpec(req.text, req.file));
    port.close();
  });
  port.postMessage('ready');
}

start();
