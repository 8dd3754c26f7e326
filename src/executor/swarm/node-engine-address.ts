import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * Where a node's Docker Engine API answers: `unix:///path.sock`, or `tcp://host:port` on a
 * loopback address (an SSH tunnel, a socket forwarded to this host). Plain tcp to another host
 * is refused: the Engine API is root on that node, and TLS is not supported here (yet).
 * Returns the problem, or undefined when the address is usable.
 */
export function engineAddressProblem(address: string): string | undefined {
  if (address.startsWith('unix://')) {
    return address.slice('unix://'.length).startsWith('/') ? undefined : `${address}: a unix socket needs an absolute path (unix:///var/run/docker.sock)`;
  }
  if (!address.startsWith('tcp://')) return `${address}: expected unix:///path.sock or tcp://127.0.0.1:port`;
  let url: URL;
  try {
    url = new URL(address.replace(/^tcp:/, 'http:'));
  } catch {
    return `${address}: not a tcp://host:port address`;
  }
  if (!url.port || url.pathname !== '/' || url.search || url.username) return `${address}: expected tcp://host:port`;
  if (!isLoopback(url.hostname)) {
    return `${address}: plain tcp to another host is refused (the Engine API is root on that node and TLS is not supported yet); use a unix socket, or a loopback address such as an SSH tunnel's (tcp://127.0.0.1:port)`;
  }
  return undefined;
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}

/**
 * Server config `swarm.nodeEngines`: node hostname or node ID → its engine's address
 * (`engineAddressProblem` says which are accepted). Multi-node only (`swarm.registry`).
 */
export const NodeEnginesConfig = z.record(
  z.string().min(1),
  z.string().superRefine((address, ctx) => {
    const problem = engineAddressProblem(address);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
);
export type NodeEnginesConfig = z.infer<typeof NodeEnginesConfig>;
