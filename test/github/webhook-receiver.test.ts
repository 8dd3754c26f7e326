import { connect } from 'node:net';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRepo } from '../support/git-repo.js';
import { signBody } from '../fakes/github-signature.js';
import { loadConfig } from '../../src/config.js';
import { githubFrontend } from '../../src/github/github-frontend.js';
import type { Core } from '../../src/app/open-core.js';
import type { BuildService } from '../../commands/command.js';
import { pushPayload } from '../fakes/fake-github-payloads.js';
import { startGithubHarness, secret, testSpec, eventually, type GithubHarness } from './github-harness.js';

let g: GithubHarness;
let headSha: string;
const sender = { id: 101, login: 'dev' };

before(async () => {
  g = await startGithubHarness({}, { webhookSecrets: ['old-secret-0123', secret] });
  const repo = await makeRepo(g.h.dataDir, 'api', { 'bosun.yml': testSpec });
  headSha = (await repo.commit({ 'x.txt': 'x' }, 'change')).trim();
  g.h.server.core.config.repos['acme/api'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  g.gh.addRepo('acme/api', repo.dir);
});
after(async () => {
  await g?.stop();
});

async function post(body: string | Buffer, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const res = await fetch(g.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, text: await res.text() };
}

function signed(event: string, body: string, id = crypto.randomUUID(), key = secret): Record<string, string> {
  return { 'x-github-event': event, 'x-github-delivery': id, 'x-hub-signature-256': signBody(key, body) };
}

const pushBody = (after: string, ref = 'refs/heads/feature-r1') => JSON.stringify(pushPayload({ repo: 'acme/api', ref, after, sender }));

test('signature failures get 401 and JSON.parse never sees the body', async () => {
  const body = pushBody(headSha);
  const good = signBody(secret, body);
  const cases: [string, Record<string, string>, string][] = [
    ['flipped bit', { 'x-hub-signature-256': good.slice(0, -1) + (good.endsWith('0') ? '1' : '0') }, body],
    ['sha1= prefix', { 'x-hub-signature-256': good.replace('sha256=', 'sha1=') }, body],
    ['truncated digest', { 'x-hub-signature-256': good.slice(0, 40) }, body],
    ['missing header', {}, body],
    ['re-serialised body', { 'x-hub-signature-256': good }, JSON.stringify(JSON.parse(body), null, 2)],
    ['wrong secret', { 'x-hub-signature-256': signBody('not-the-secret', body) }, body],
  ];
  const realParse = JSON.parse;
  const parsed: string[] = [];
  JSON.parse = function spy(text: string, reviver?: (k: string, v: unknown) => unknown) {
    parsed.push(String(text));
    return realParse(text, reviver);
  } as typeof JSON.parse;
  try {
    for (const [name, headers, payload] of cases) {
      const res = await fetch(g.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': crypto.randomUUID(), ...headers },
        body: payload,
      });
      await res.arrayBuffer();
      assert.equal(res.status, 401, name);
    }
    assert.equal(parsed.filter((t) => t.includes('"after"')).length, 0, 'no webhook body was parsed before verification');
    const ok = await post(body, signed('push', body));
    assert.equal(ok.status, 202);
    assert.ok(
      parsed.some((t) => t === body),
      'the spy does see bodies once they verify',
    );
  } finally {
    JSON.parse = realParse;
  }
});

test('old and new secrets both verify during a rotation', async () => {
  const body = pushBody(headSha, 'refs/heads/rotation');
  assert.equal((await post(body, signed('push', body, undefined, 'old-secret-0123'))).status, 202);
  assert.equal((await post(body, signed('push', body, undefined, secret))).status, 202);
});

test('a signed but malformed payload gets 400 and the process stays up', async () => {
  for (const after of ['not-hex', 'g'.repeat(40), headSha.slice(0, 39)]) {
    const body = pushBody(after);
    const res = await post(body, signed('push', body));
    assert.equal(res.status, 400, after);
    assert.match(res.text, /after/);
  }
  const notJson = '{"ref": ';
  assert.equal((await post(notJson, signed('push', notJson))).status, 400);
  assert.equal((await g.h.api('GET', '/healthz')).status, 200);
});

test('unknown events and actions are acknowledged and ignored', async () => {
  const star = JSON.stringify({ action: 'created', repository: { full_name: 'acme/api' } });
  assert.equal((await post(star, signed('star', star))).status, 202);
  const closed = JSON.stringify({ action: 'closed', number: 1 });
  assert.equal((await post(closed, signed('pull_request', closed))).status, 202);
});

test('a body over 25 MiB is refused with 413 by Content-Length, before reading', async () => {
  const res = await new Promise<number>((resolve, reject) => {
    const req = request(g.webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': String(26 * 1024 * 1024),
        'x-github-event': 'push',
        'x-github-delivery': 'big-1',
        'x-hub-signature-256': `sha256=${'0'.repeat(64)}`,
      },
    });
    req.on('response', (r) => resolve(r.statusCode ?? 0));
    req.on('error', reject);
    req.write('{');
  });
  assert.equal(res, 413);
});

test('a 26 MiB chunked body gets 413 and RSS grows by less than 40 MB (one copy up to the cap, never two)', async () => {
  gc();
  const rssBefore = process.memoryUsage().rss;
  // A raw socket: the server may answer 413 and close while we are still writing, and the
  // answer must still be read (an http.ClientRequest drops it once a write fails with EPIPE).
  const url = new URL(g.webhookUrl);
  const status = await new Promise<number>((resolve, reject) => {
    const sock = connect(Number(url.port), url.hostname);
    let received = '';
    let sent = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(received);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`no HTTP response (sent ${sent} bytes; got ${JSON.stringify(received.slice(0, 80))})`));
      sock.destroy();
    };
    sock.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (/^HTTP\/1\.1 \d{3}/.test(received)) finish();
    });
    sock.on('error', () => setTimeout(finish, 1000));
    sock.on('close', () => setTimeout(finish, 100));
    sock.on('connect', () => {
      sock.write(
        `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nx-github-event: push\r\nx-github-delivery: big-2\r\nx-hub-signature-256: sha256=${'0'.repeat(64)}\r\n\r\n`,
      );
      const chunk = Buffer.concat([Buffer.from(`${(64 * 1024).toString(16)}\r\n`), Buffer.alloc(64 * 1024, 0x20), Buffer.from('\r\n')]);
      const pump = () => {
        while (!done && !sock.destroyed && sent < 26 * 1024 * 1024) {
          sent += 64 * 1024;
          if (!sock.write(chunk)) return void sock.once('drain', pump);
        }
        if (!done && !sock.destroyed) sock.end('0\r\n\r\n');
      };
      pump();
    });
  });
  gc();
  const growthMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
  assert.equal(status, 413);
  // Without a Content-Length the route reads up to its 25 MiB cap before refusing, so ~26 MB of
  // growth is expected (22–29 MB measured under load); a second copy of the body would be ≥ 50.
  assert.ok(growthMb < 40, `RSS grew ${growthMb.toFixed(1)} MB`);
  console.log(`# 26 MiB chunked body: 413, RSS growth ${growthMb.toFixed(1)} MB`);
});

test('a valid 2 MB push is accepted', async () => {
  const payload = pushPayload({ repo: 'acme/api', ref: 'refs/heads/big-push', after: headSha, sender });
  payload.commits = Array.from({ length: 2000 }, (_, i) => ({ ...payload.head_commit, id: headSha, message: `commit ${i} ${'m'.repeat(1000)}` }));
  const body = JSON.stringify(payload);
  assert.ok(body.length > 2_000_000);
  assert.equal((await post(body, signed('push', body))).status, 202);
});

test('the same delivery 50 times at once, and again after it finished, makes one build and one final status', async () => {
  const sha = await makeCommit('dedupe');
  const body = pushBody(sha, 'refs/heads/dedupe');
  const id = crypto.randomUUID();
  const results = await Promise.all(Array.from({ length: 50 }, () => post(body, signed('push', body, id))));
  assert.ok(
    results.every((r) => r.status === 202),
    JSON.stringify(results.map((r) => r.status)),
  );
  assert.equal(results.filter((r) => r.text.includes('queued')).length, 1);

  const build = await eventually(
    () => buildsFor(sha),
    (b) => b.length > 0,
  );
  await g.h.waitDone(build[0]!.id);
  await eventually(
    () => g.gh.statusesFor('acme/api', sha, 'bosun/test').filter((s) => s.state === 'success').length,
    (n) => n === 1,
  );

  assert.equal((await post(body, signed('push', body, id))).status, 202);
  const sameChangeNewGuid = await post(body, signed('push', body));
  assert.equal(sameChangeNewGuid.status, 202);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await buildsFor(sha)).length, 1);
  assert.equal(g.gh.statusesFor('acme/api', sha, 'bosun/test').filter((s) => s.state === 'success').length, 1);
});

test('a burst of 500 distinct deliveries: every one acked 202 and queued exactly once', async () => {
  const bodies = Array.from({ length: 500 }, (_, i) =>
    JSON.stringify(pushPayload({ repo: 'acme/not-allowlisted', ref: `refs/heads/b${i}`, after: headSha, sender })),
  );
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      const started = performance.now();
      const res = await post(body, signed('push', body));
      latencies.push(performance.now() - started);
      assert.equal(res.status, 202);
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  const claimed = await g.h.server.core.redis.keys(`${g.h.server.core.prefix}:github:delivery:*`);
  latencies.sort((a, b) => a - b);
  console.log(`# webhook ack, 500 deliveries at 50 concurrent: p50 ${latencies[249]!.toFixed(1)} ms, p99 ${latencies[494]!.toFixed(1)} ms`);
  assert.equal(latencies.length, 500);
  assert.ok(claimed.length >= 500);
});

test('an empty webhook secret makes startup fail, and `bosun start` exit non-zero', async () => {
  const config = loadConfig({ GITHUB_WEBHOOK_SECRET: '' }, { dataDir: tmpdir() });
  assert.throws(() => githubFrontend({ config } as Core, {} as BuildService), /webhookSecrets/);
  const dataDir = mkdtempSync(join(tmpdir(), 'bosun-empty-secret-'));
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--port', '0', '--workers', '0'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        BOSUN_DATA_DIR: dataDir,
        REDIS_URL: g.h.redis.url,
        GITHUB_WEBHOOK_SECRET: '',
        BOSUN_LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.notEqual(code, 0);
  assert.notEqual(code, null, 'it exits by itself');
});

function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

async function makeCommit(branch: string): Promise<string> {
  const { git } = await import('../../src/git/git.js');
  const dir = join(g.h.dataDir, 'src-repos', 'api');
  await git(['checkout', '-q', '-B', branch, 'master'], { cwd: dir });
  await git(['commit', '-q', '--allow-empty', '-m', branch], { cwd: dir });
  return (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
}

async function buildsFor(sha: string) {
  return (await g.h.server.core.store.list({ repo: 'acme/api', limit: 100 })).filter((b) => b.sha === sha);
}
