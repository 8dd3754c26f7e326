import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import Docker from 'dockerode';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { labelKeys } from '../../src/executor/executor.js';
import { requireDocker } from '../support/require-docker.js';

const run = promisify(execFile);
const root = process.cwd();
const tag = 'bosun/bosun:dev';
const stack = `bosuntest${process.pid}`;
/** Labels the stack's step services, networks and volumes: this run's alone. */
const instance = `stack-${process.pid}`;
const secret = `${stack}_api_token`;
const token = `stack-token-${process.pid}-0123456789`;
const branch = `isolation-${process.pid}`;
let scratch = '';

async function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeout?: number } = {}): Promise<string> {
  const child = run(cmd, args, { env: { ...process.env, ...opts.env }, timeout: opts.timeout ?? 300_000, maxBuffer: 32 * 1024 * 1024 });
  if (opts.input !== undefined) {
    child.child.stdin?.end(opts.input);
  }
  return (await child).stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  if (!(await requireDocker())) return;
  scratch = await mkdtemp(join(tmpdir(), 'bosun-stack-'));
  await sh('bash', [join(root, 'scripts', 'build-bosun-image.sh'), tag], { timeout: 900_000 });
});

after(async () => {
  await sh('docker', ['stack', 'rm', stack]).catch(() => '');
  // Networks and volumes go once the tasks are gone.
  for (let i = 0; i < 60; i++) {
    const left = await sh('docker', ['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${stack}`]).catch(() => '');
    if (!left.trim()) break;
    await sleep(1000);
  }
  await sh('docker', ['secret', 'rm', secret]).catch(() => '');
  // What the stack's workers made on the engine and a stopped worker may have left behind.
  const mine = `label=${labelKeys.instance}=${instance}`;
  const services = (await sh('docker', ['service', 'ls', '-q', '--filter', mine]).catch(() => '')).split('\n').filter(Boolean);
  if (services.length) await sh('docker', ['service', 'rm', ...services]).catch(() => '');
  const containers = (await sh('docker', ['ps', '-aq', '--filter', mine]).catch(() => '')).split('\n').filter(Boolean);
  if (containers.length) await sh('docker', ['rm', '-f', ...containers]).catch(() => '');
  const networks = (await sh('docker', ['network', 'ls', '-q', '--filter', mine]).catch(() => '')).split('\n').filter(Boolean);
  if (networks.length) await sh('docker', ['network', 'rm', ...networks]).catch(() => '');
  const vols = [
    ...(await sh('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${stack}`]).catch(() => '')).split('\n'),
    ...(await sh('docker', ['volume', 'ls', '-q', '--filter', mine]).catch(() => '')).split('\n'),
  ].filter(Boolean);
  if (vols.length) await sh('docker', ['volume', 'rm', '-f', ...vols]).catch(() => '');
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

test('the image builds, starts non-root, runs compiled JavaScript and reports healthy', async (t) => {
  if (!(await requireDocker(t))) return;
  const name = `bosun-image-${process.pid}`;
  await sh('docker', ['run', '-d', '--name', name, '-e', 'BOSUN_EXECUTOR=local', tag, 'start']);
  try {
    let health = '';
    for (let i = 0; i < 90 && health !== 'healthy'; i++) {
      health = (await sh('docker', ['inspect', '-f', '{{.State.Health.Status}}', name])).trim();
      if (health !== 'healthy') await sleep(1000);
    }
    assert.equal(health, 'healthy');
    const user = (await sh('docker', ['exec', name, 'id', '-u'])).trim();
    assert.equal(user, '1000');
    // bin/bosun execs node on the compiled entry: PID 1 is node on main.js, with no tsx loader.
    const cmdline = (await sh('docker', ['exec', name, 'cat', '/proc/1/cmdline'])).split('\0').filter(Boolean);
    assert.equal(cmdline.at(-2), '/app/src/cli/main.js', cmdline.join(' '));
    assert.ok(!cmdline.some((a) => a.includes('tsx')), cmdline.join(' '));
  } finally {
    await sh('docker', ['rm', '-f', name]).catch(() => '');
  }
});

/** What a step of the stack finds when it tries to leave its sandbox; the test knows the answers. */
const probe = `import os, socket, sys
def tcp(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return 'OPEN'
    except OSError:
        return 'blocked'
def dns(name):
    try:
        socket.getaddrinfo(name, 6379)
        return 'resolved'
    except OSError:
        return 'unknown'
ips = lambda name: os.environ[name].split()
print('ISOLATION uid=%d' % os.getuid(),
      'engine-socket=' + ('PRESENT' if os.path.exists('/var/run/docker.sock') else 'absent'),
      'redis-name=' + dns('redis'),
      'redis=' + ','.join(tcp(ip, 6379) for ip in ips('REDIS_IPS')),
      'server=' + ','.join(tcp(ip, 8080) for ip in ips('SERVER_IPS')),
      'checkout=' + ('ok' if os.path.exists('probe.py') else 'MISSING'))
sys.stdout.flush()
`;

/** Labels of every step service of this instance seen while `until` runs (polled). */
async function watchServices(until: Promise<unknown>): Promise<Array<Record<string, string>>> {
  const docker = new Docker();
  const seen = new Map<string, Record<string, string>>();
  let done = false;
  void until.finally(() => (done = true)).catch(() => undefined);
  for (let i = 0; i < 2400 && !done; i++) {
    const services = await docker.listServices({ filters: { label: [`${labelKeys.instance}=${instance}`] } }).catch(() => []);
    for (const s of services) if (s.ID && s.Spec?.Labels) seen.set(s.ID, s.Spec.Labels);
    await sleep(200);
  }
  return [...seen.values()];
}

/** Every address the stack's service `name` has (its containers' addresses on the stack's network). */
async function addressesOf(name: string): Promise<string[]> {
  const ids = (await sh('docker', ['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${stack}_${name}`])).split('\n').filter(Boolean);
  const out: string[] = [];
  for (const id of ids)
    out.push(...(await sh('docker', ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', id])).split(/\s+/).filter(Boolean));
  return out;
}

test('the stack deploys server, workers and Redis on the swarm; its builds run each step as a labelled swarm service, isolated from the stack', async (t) => {
  if (!(await requireDocker(t))) return;
  // The stack file as shipped, but with the server's port unpublished: tests listen on no
  // outside address, and a published host-mode port binds all of them.
  const stackFile = parseYaml(await readFile(join(root, 'deploy', 'bosun-stack.yml'), 'utf8')) as { services: Record<string, Record<string, unknown>> };
  assert.deepEqual(stackFile.services.server?.ports, [{ target: 8080, published: '${BOSUN_PUBLISHED_PORT:-8080}', protocol: 'tcp', mode: 'host' }]);
  delete stackFile.services.server!.ports;
  const file = join(scratch, 'bosun-stack.yml');
  await writeFile(file, stringifyYaml(stackFile));

  await sh('docker', ['secret', 'create', secret, '-'], { input: token });
  // The stack's defaults (BOSUN_EXECUTOR unset: swarm), with this run's names.
  const env: NodeJS.ProcessEnv = {
    BOSUN_IMAGE: tag,
    BOSUN_WORKERS: '2',
    BOSUN_API_TOKEN_SECRET: secret,
    BOSUN_INSTANCE_ID: instance,
    BOSUN_EXECUTOR: undefined,
  };
  await sh('docker', ['stack', 'deploy', '--resolve-image', 'never', '-c', file, stack], { env });

  let services = '';
  for (let i = 0; i < 120; i++) {
    services = await sh('docker', ['service', 'ls', '--filter', `label=com.docker.stack.namespace=${stack}`, '--format', '{{.Name}} {{.Replicas}}']);
    if (/_worker 2\/2/.test(services) && /_server 1\/1/.test(services) && /_redis 1\/1/.test(services)) break;
    await sleep(1000);
  }
  if (!/_worker 2\/2/.test(services)) services += await sh('docker', ['stack', 'ps', '--no-trunc', stack]);
  assert.match(services, /_worker 2\/2/, services);
  assert.match(services, /_server 1\/1/, services);
  assert.match(services, /_redis 1\/1/, services);

  const server = (await sh('docker', ['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${stack}_server`])).trim().split('\n')[0]!;
  const build = async (ref: string): Promise<string> => {
    let out = '';
    for (let i = 0; i < 60; i++) {
      try {
        return await sh('docker', ['exec', server, 'bosun', 'build', ref, '--follow'], { timeout: 240_000 });
      } catch (err) {
        out = String((err as { stdout?: string }).stdout ?? '') + String(err);
        if (!/cannot reach Bosun/.test(out)) return out;
        await sleep(1000);
      }
    }
    return out;
  };

  // The bundled example, its steps as swarm services.
  const demoRun = build('demo#master');
  const demoServices = await watchServices(demoRun);
  const demo = await demoRun;
  assert.match(demo, /--- test\/unit[\s\S]*OK/, demo);
  assert.match(demo, /=== build #\d+ success/, demo);
  assert.ok(
    demoServices.some((l) => l[labelKeys.step] === 'unit' && l[labelKeys.managed] === 'true'),
    JSON.stringify(demoServices),
  );

  // A branch of the demo whose step probes its sandbox from inside.
  const spec = [
    'version: 1',
    'image: bosun/base:bookworm',
    'env:',
    `  REDIS_IPS: "${(await addressesOf('redis')).join(' ')}"`,
    `  SERVER_IPS: "${(await addressesOf('server')).join(' ')}"`,
    'stages:',
    '  test:',
    '    steps:',
    '      - name: probe',
    '        run: [python3 probe.py, sleep 5]', // seen by watchServices' polls even when dockerd answers slowly
    '',
  ].join('\n');
  const push = [
    'set -e',
    'd=$(mktemp -d)',
    'git clone -q /data/repos/demo.git "$d"',
    'cd "$d"',
    `git checkout -q -b ${branch}`,
    "cat > bosun.yml <<'EOF_SPEC'",
    spec,
    'EOF_SPEC',
    "cat > probe.py <<'EOF_PROBE'",
    probe,
    'EOF_PROBE',
    'git add -A',
    'git -c user.name=stack-test -c user.email=stack-test@example.invalid commit -q -m "probe the sandbox"',
    `git push -q origin ${branch}`,
    'rm -rf "$d"',
  ].join('\n');
  await sh('docker', ['exec', server, 'sh', '-c', push]);

  const probeRun = build(`demo#${branch}`);
  const probeServices = await watchServices(probeRun);
  const out = await probeRun;
  assert.match(out, /=== build #\d+ success/, out);
  const line = /ISOLATION .*/.exec(out)?.[0] ?? out;
  assert.match(line, /^ISOLATION uid=[1-9]\d* engine-socket=absent redis-name=unknown redis=blocked(,blocked)* server=blocked(,blocked)* checkout=ok$/, line);

  // The step was a swarm service carrying Bosun's labels, and it is gone once the build ends.
  const step = probeServices.find((l) => l[labelKeys.step] === 'probe');
  assert.ok(step, JSON.stringify(probeServices));
  assert.equal(step[labelKeys.managed], 'true');
  assert.equal(step[labelKeys.instance], instance);
  assert.equal(step[labelKeys.stage], 'test');
  assert.match(step[labelKeys.build] ?? '', /^\d+$/);
  let left: string[] = [];
  for (let i = 0; i < 60; i++) {
    left = (await sh('docker', ['service', 'ls', '-q', '--filter', `label=${labelKeys.instance}=${instance}`])).split('\n').filter(Boolean);
    if (left.length === 0) break;
    await sleep(500);
  }
  assert.deepEqual(left, []);
});
