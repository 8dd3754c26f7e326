import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A stand-in world for egress tests, all on this machine: one network namespace holding
 * - "the internet": a TEST-NET-2 address serving a PEP 503 package index (real wheels from the
 *   machine's pip mirror) over HTTP, and a DNS server (dnsmasq) resolving `pypi.test` to it;
 * - "a private host": an RFC 1918 address with a greeter;
 * - "the metadata service": 169.254.169.254 with a greeter;
 * - "elsewhere on the internet": a second TEST-NET-2 address with a greeter (what an allowlist
 *   naming only the index must not reach).
 * The host routes to all three through one veth pair, so a step whose traffic is not blocked
 * reaches only these test hosts (never a real outside or private address). Every connection is
 * counted per address. Needs root (ip, dnsmasq). `close` removes the namespace and the routes.
 * The addresses avoid the multi-node scripts' 10.210.0.0/24; one world per machine at a time.
 */
export interface EgressWorld {
  internet: string;
  privateHost: string;
  metadata: string;
  /** Another public-looking address on the stand-in internet, with a greeter. */
  elsewhere: string;
  /** The index by name: `http://pypi.test/simple/`. */
  indexUrl: string;
  /** The DNS server (on the internet address). */
  dns: string;
  /** Connections seen by the server on `address` so far. */
  hits(address: string): number;
  /** Takes a project off the index (its `simple/<name>/` page and its entry in `simple/`), as if it were never published. */
  withdraw(name: string): void;
  close(): Promise<void>;
}

export interface EgressWorldOptions {
  /** More projects to put on the index (real wheels from the machine's pip mirror, no dependencies resolved). */
  wheels?: string[];
  /** How long to wait for another test file's world to close (one world per machine). Default 10 minutes. */
  lockWaitMs?: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const internet = '198.51.100.10';
const hostSide = '198.51.100.1';
const privateHost = '10.213.7.10';
const privateHostSide = '10.213.7.1';
const metadata = '169.254.169.254';
const elsewhere = '198.51.100.20';
/** Wheels put in the index (pip itself: a step runs pip from its wheel; the base image has none). */
const baseWheels = ['pip', 'six', 'iniconfig'];
/** The machine-wide lock: the world's addresses exist once, so test files take turns. */
const lockDir = join(tmpdir(), 'bosun-egress-world.lock');

/** Why the world cannot be made here, or undefined. */
export function egressWorldProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, iptables)';
  for (const tool of ['ip', 'dnsmasq', 'iptables-save']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is missing (scripts/install-deps.sh)`;
    }
  }
  return undefined;
}

export async function startEgressWorld(opts: EgressWorldOptions = {}): Promise<EgressWorld> {
  const wheels = [...new Set([...baseWheels, ...(opts.wheels ?? [])])];
  await acquireLock(opts.lockWaitMs ?? 600_000);
  try {
    return await startLocked(wheels);
  } catch (err) {
    releaseLock();
    throw err;
  }
}

/** Takes the lock (a directory holding the owner's pid); a lock whose owner is gone is broken. */
async function acquireLock(waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = 0;
    try {
      owner = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
    } catch {
      // being written or removed right now
    }
    if (owner > 0 && owner !== process.pid && !alive(owner)) rmSync(lockDir, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`another egress world (pid ${owner || '?'}) still holds ${lockDir} after ${waitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function releaseLock(): void {
  try {
    if (Number(readFileSync(join(lockDir, 'pid'), 'utf8')) === process.pid) rmSync(lockDir, { recursive: true, force: true });
  } catch {
    // not ours, or already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function startLocked(wheels: string[]): Promise<EgressWorld> {
  const tag = String(process.pid % 100000);
  const ns = `bosun-egw-${tag}`;
  const vethHost = `begh${tag}`;
  const vethNs = `begn${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'bosun-egress-world-'));
  const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });
  const inNs = (...args: string[]): void => ip('netns', 'exec', ns, 'ip', ...args);
  const children: ChildProcess[] = [];
  const hits = new Map<string, number>();

  const teardown = (): void => {
    for (const child of children) child.kill('SIGKILL');
    for (const args of [
      ['route', 'del', `${metadata}/32`, 'dev', vethHost],
      ['link', 'del', vethHost],
      ['netns', 'del', ns],
    ]) {
      try {
        ip(...args);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    sweepStaleWorlds();
    makeIndex(dir, wheels);
    ip('netns', 'add', ns);
    ip('link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs);
    ip('link', 'set', vethNs, 'netns', ns);
    ip('addr', 'add', `${hostSide}/24`, 'dev', vethHost);
    ip('addr', 'add', `${privateHostSide}/24`, 'dev', vethHost);
    ip('link', 'set', vethHost, 'up');
    ip('route', 'add', `${metadata}/32`, 'dev', vethHost);
    inNs('link', 'set', 'lo', 'up');
    for (const address of [`${internet}/24`, `${elsewhere}/24`, `${privateHost}/24`, `${metadata}/32`]) inNs('addr', 'add', address, 'dev', vethNs);
    inNs('link', 'set', vethNs, 'up');
    inNs('route', 'add', 'default', 'via', hostSide);

    const servers = spawn(
      'ip',
      ['netns', 'exec', ns, 'python3', '-u', join(here, 'egress-world.py'), join(dir, 'index'), internet, privateHost, metadata, elsewhere],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(servers);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the world's servers did not start within 10 s")), 10_000);
      let buffered = '';
      servers.stdout!.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          if (line === 'READY') {
            clearTimeout(timer);
            resolve();
          }
          const hit = /^HIT (\S+)$/.exec(line);
          if (hit) hits.set(hit[1]!, (hits.get(hit[1]!) ?? 0) + 1);
        }
      });
      servers.once('exit', (code) => reject(new Error(`the world's servers exited (${code})`)));
    });

    const dnsmasq = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'dnsmasq',
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--no-resolv',
        '--no-hosts',
        '--bind-interfaces',
        `--listen-address=${internet}`,
        '--address=/pypi.test/' + internet,
        '--pid-file',
        '--user=root',
        '--log-facility=-',
      ],
      { stdio: 'ignore' },
    );
    children.push(dnsmasq);
    await waitForDns(ns);
  } catch (err) {
    teardown();
    throw err;
  }

  return {
    internet,
    privateHost,
    metadata,
    elsewhere,
    indexUrl: 'http://pypi.test/simple/',
    dns: internet,
    hits: (address) => hits.get(address) ?? 0,
    withdraw: (name) => {
      const simple = join(dir, 'index', 'simple');
      rmSync(join(simple, name), { recursive: true, force: true });
      const listing = join(simple, 'index.html');
      writeFileSync(
        listing,
        readFileSync(listing, 'utf8')
          .split('\n')
          .filter((line) => line !== `<a href="${name}/">${name}</a>`)
          .join('\n'),
      );
    },
    close: async () => {
      teardown();
      releaseLock();
    },
  };
}

/**
 * Removes what an earlier world left behind when its process was killed before its teardown
 * (a test file over its time limit is killed outright): its servers, namespace, veth and the
 * metadata route. Called with the lock held, so no live world is touched.
 */
function sweepStaleWorlds(): void {
  const run = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    } catch {
      return '';
    }
  };
  for (const line of run('ip', ['netns', 'list']).split('\n')) {
    const ns = /^(bosun-egw-\d+)\b/.exec(line)?.[1];
    if (!ns) continue;
    for (const pid of run('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean)) run('kill', ['-KILL', pid]);
    run('ip', ['netns', 'del', ns]);
  }
  for (const line of run('ip', ['-o', 'link', 'show']).split('\n')) {
    const link = /^\d+: (begh\d+)[@:]/.exec(line)?.[1];
    if (link) run('ip', ['link', 'del', link]);
  }
  run('ip', ['route', 'del', `${metadata}/32`]);
}

/** The PEP 503 tree: `simple/<name>/index.html` linking `files/<wheel>#sha256=…`; `files/pip.whl` too. */
function makeIndex(dir: string, wheels: string[]): void {
  const files = join(dir, 'index', 'files');
  mkdirSync(files, { recursive: true });
  // `pip download` works here only against the machine's local wheel mirror (pip config); no retries
  // of the default index, which is unreachable from here (each retry costs seconds per wheel).
  execFileSync('python3', ['-m', 'pip', 'download', '--quiet', '--retries', '0', '--no-deps', '--only-binary=:all:', '-d', files, ...wheels], {
    stdio: 'pipe',
    timeout: 120_000,
  });
  const all = readdirSync(files).filter((f) => f.endsWith('.whl'));
  const simple = join(dir, 'index', 'simple');
  mkdirSync(simple);
  writeFileSync(join(simple, 'index.html'), `<!DOCTYPE html><html><body>\n${wheels.map((w) => `<a href="${w}/">${w}</a>`).join('\n')}\n</body></html>\n`);
  for (const name of wheels) {
    const mine = all.filter((f) => f.toLowerCase().startsWith(`${name}-`));
    const links = mine.map(
      (f) =>
        `<a href="../../files/${f}#sha256=${createHash('sha256')
          .update(readFileSync(join(files, f)))
          .digest('hex')}">${f}</a>`,
    );
    mkdirSync(join(simple, name));
    writeFileSync(join(simple, name, 'index.html'), `<!DOCTYPE html><html><body>\n${links.join('\n')}\n</body></html>\n`);
  }
  const pip = all.find((f) => f.startsWith('pip-'));
  if (!pip) throw new Error('no pip wheel in the local mirror');
  copyFileSync(join(files, pip), join(files, 'pip.whl'));
}

async function waitForDns(ns: string): Promise<void> {
  const probe =
    'import socket,sys\nq=b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x04pypi\\x04test\\x00\\x00\\x01\\x00\\x01"\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(0.5);s.sendto(q,(sys.argv[1],53));s.recv(512)';
  for (let i = 0; i < 40; i += 1) {
    try {
      execFileSync('ip', ['netns', 'exec', ns, 'python3', '-c', probe, internet], { stdio: 'ignore', timeout: 5000 });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw new Error('dnsmasq did not answer within 10 s');
}
