import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { promisify } from 'node:util';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

/**
 * A real Docker registry (Debian's `docker-registry`, Docker Distribution) for one test file:
 * TLS from a CA made here, htpasswd (bcrypt) auth, its own storage, on 127.0.0.1:<free port>.
 * The engine trusts the CA through `/etc/docker/certs.d/127.0.0.1:<port>/ca.crt` (read per
 * connection, no dockerd restart); `stop()` removes that directory, the storage and the process.
 */
export interface TestRegistry {
  /** `127.0.0.1:<port>`: the registry part of image names. */
  host: string;
  port: number;
  username: string;
  password: string;
  /** The CA certificate (PEM) that signed the registry's certificate. */
  caPem: string;
  dir: string;
  /** The manifest digest the registry serves for `repository:tag` (null: no such tag). */
  manifestDigest(repository: string, tag: string): Promise<string | null>;
  stop(): Promise<void>;
}

export async function startRegistry(opts: { username?: string; password?: string } = {}): Promise<TestRegistry> {
  const username = opts.username ?? 'bosun';
  const password = opts.password ?? `pw-${process.pid}-${Date.now()}`;
  const dir = mkdtempSync(join(tmpdir(), 'bosun-registry-'));
  const ca = join(dir, 'ca');
  mkdirSync(ca);
  await run(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=bosun test CA', '-keyout', join(ca, 'ca.key'), '-out', join(ca, 'ca.crt')],
    { timeout: 60_000 },
  );
  await run(
    'openssl',
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.csr')],
    { timeout: 60_000 },
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  await run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      join(dir, 'server.csr'),
      '-CA',
      join(ca, 'ca.crt'),
      '-CAkey',
      join(ca, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      join(dir, 'san.ext'),
      '-out',
      join(dir, 'server.crt'),
    ],
    { timeout: 60_000 },
  );
  const { stdout: htpasswd } = await run('htpasswd', ['-Bbn', username, password], { timeout: 30_000 });
  writeFileSync(join(dir, 'htpasswd'), htpasswd);
  const caPem = (await run('cat', [join(ca, 'ca.crt')])).stdout;

  let proc: ChildProcess | undefined;
  let port = 0;
  let certsDir = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    port = await freePort();
    writeFileSync(
      join(dir, 'config.yml'),
      [
        'version: 0.1',
        'log: { level: warn }',
        `storage: { filesystem: { rootdirectory: ${join(dir, 'storage')} }, delete: { enabled: true } }`,
        `http: { addr: "127.0.0.1:${port}", secret: "test-${process.pid}", tls: { certificate: ${join(dir, 'server.crt')}, key: ${join(dir, 'server.key')} } }`,
        `auth: { htpasswd: { realm: bosun-test, path: ${join(dir, 'htpasswd')} } }`,
        '',
      ].join('\n'),
    );
    certsDir = `/etc/docker/certs.d/127.0.0.1:${port}`;
    mkdirSync(certsDir, { recursive: true });
    writeFileSync(join(certsDir, 'ca.crt'), caPem);
    const child = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    if (await waitReady(port, caPem, child)) {
      proc = child;
      break;
    }
    child.kill('SIGKILL');
    rmSync(certsDir, { recursive: true, force: true });
    if (attempt === 4) throw new Error(`docker-registry did not start: ${stderr}`);
  }

  const auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  return {
    host: `127.0.0.1:${port}`,
    port,
    username,
    password,
    caPem,
    dir,
    async manifestDigest(repository, tag) {
      const res = await get(
        port,
        caPem,
        `/v2/${repository}/manifests/${tag}`,
        {
          authorization: auth,
          accept:
            'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json',
        },
        'HEAD',
      );
      if (res.status === 404) return null;
      if (res.status !== 200) throw new Error(`registry answered ${res.status} for ${repository}:${tag}`);
      return String(res.headers['docker-content-digest']);
    },
    async stop() {
      if (proc && proc.exitCode === null) {
        const exited = new Promise((r) => proc?.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(certsDir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitReady(port: number, caPem: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    // Unauthenticated: 401 from our registry (anything else answering is not ours).
    const res = await get(port, caPem, '/v2/', {}, 'GET').catch(() => null);
    if (res) return res.status === 401 && String(res.headers['www-authenticate'] ?? '').includes('bosun-test');
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function get(
  port: number,
  ca: string,
  path: string,
  headers: Record<string, string>,
  method: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, ca, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
