import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { requireDocker } from '../support/require-docker.js';

const run = promisify(execFile);
const root = process.cwd();
const tag = 'bosun/bosun:dev';
const stack = `bosuntest${process.pid}`;
const secret = `${stack}_api_token`;
const token = `stack-token-${process.pid}-0123456789`;

async function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeout?: number } = {}): Promise<string> {
  const child = run(cmd, args, { env: { ...process.env, ...opts.env }, timeout: opts.timeout ?? 300_000, maxBuffer: 32 * 1024 * 1024 });
  if (opts.input !== undefined) {
    child.child.stdin?.end(opts.input);
  }
  return (await child).stdout;
}

before(async () => {
  if (!(await requireDocker())) return;
  await sh('bash', [join(root, 'scripts', 'build-bosun-image.sh'), tag], { timeout: 900_000 });
});

after(async () => {
  await sh('docker', ['stack', 'rm', stack]).catch(() => '');
  // Networks and volumes go once the tasks are gone.
  for (let i = 0; i < 60; i++) {
    const left = await sh('docker', ['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${stack}`]).catch(() => '');
    if (!left.trim()) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  await sh('docker', ['secret', 'rm', secret]).catch(() => '');
  const vols = (await sh('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${stack}`]).catch(() => '')).trim().split('\n').filter(Boolean);
  if (vols.length) await sh('docker', ['volume', 'rm', '-f', ...vols]).catch(() => '');
});

test('the image builds, starts non-root and reports healthy', async (t) => {
  if (!(await requireDocker(t))) return;
  const name = `bosun-image-${process.pid}`;
  await sh('docker', ['run', '-d', '--name', name, '-e', 'BOSUN_EXECUTOR=local', tag, 'start']);
  try {
    let health = '';
    for (let i = 0; i < 90 && health !== 'healthy'; i++) {
      health = (await sh('docker', ['inspect', '-f', '{{.State.Health.Status}}', name])).trim();
      if (health !== 'healthy') await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal(health, 'healthy');
    const user = (await sh('docker', ['exec', name, 'id', '-u'])).trim();
    assert.equal(user, '1000');
  } finally {
    await sh('docker', ['rm', '-f', name]).catch(() => '');
  }
});

test('the stack deploys server, workers and Redis on the swarm and runs the example build end to end', async (t) => {
  if (!(await requireDocker(t))) return;
  await sh('docker', ['secret', 'create', secret, '-'], { input: token });
  await sh('docker', ['stack', 'deploy', '--resolve-image', 'never', '-c', join(root, 'deploy', 'bosun-stack.yml'), stack], {
    env: { BOSUN_IMAGE: tag, BOSUN_EXECUTOR: 'local', BOSUN_WORKERS: '2', BOSUN_API_TOKEN_SECRET: secret },
  });

  let services = '';
  for (let i = 0; i < 120; i++) {
    services = await sh('docker', ['service', 'ls', '--filter', `label=com.docker.stack.namespace=${stack}`, '--format', '{{.Name}} {{.Replicas}}']);
    if (/_worker 2\/2/.test(services) && /_server 1\/1/.test(services) && /_redis 1\/1/.test(services)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (!/_worker 2\/2/.test(services)) services += await sh('docker', ['stack', 'ps', '--no-trunc', stack]);
  assert.match(services, /_worker 2\/2/, services);
  assert.match(services, /_server 1\/1/, services);
  assert.match(services, /_redis 1\/1/, services);

  const server = (await sh('docker', ['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${stack}_server`])).trim().split('\n')[0]!;
  let out = '';
  for (let i = 0; i < 60; i++) {
    try {
      out = await sh('docker', ['exec', server, 'bosun', 'build', 'demo#master', '--follow'], { timeout: 240_000 });
      break;
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? err);
      if (!/cannot reach Bosun/.test(out + String(err))) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  assert.match(out, /--- test\/unit[\s\S]*OK/, out);
  assert.match(out, /=== build #\d+ success/, out);
});
