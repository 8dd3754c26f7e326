import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Build, StepRun } from '../../src/domain/build.js';
import type { RunStatus } from '../../src/domain/status.js';
import { FakeBosunApi } from '../fakes/fake-bosun-api.js';

const exec = promisify(execFile);
const root = process.cwd();
const bosun = join(root, 'bin', 'bosun');

/** Builds the compiled client into dist/ (beside, then renamed in, so a concurrent `bosun` never sees half of it). */
async function buildDist(): Promise<void> {
  // .scratch/ is ignored by git and eslint, and on the same file system as dist/.
  const tmp = join('.scratch', `dist-${process.pid}`);
  await exec(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.cli.json', '--outDir', tmp], {
    cwd: root,
    timeout: 300_000,
  });
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  renameSync(join(root, tmp), join(root, 'dist'));
}

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs `bosun` as a person would: its own process, a clean environment, a home of its own. */
async function run(args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: string } = {}): Promise<Run> {
  const env = { PATH: process.env.PATH ?? '', HOME: home, ...opts.env };
  return new Promise((resolveRun) => {
    const child = execFile(bosun, args, { env, cwd: opts.cwd ?? work, timeout: 60_000 }, (err, stdout, stderr) => {
      resolveRun({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

let api: FakeBosunApi;
let scratch: string;
let home: string;
let work: string;

before(async () => {
  await buildDist();
  api = await new FakeBosunApi().start();
  scratch = mkdtempSync(join(tmpdir(), 'bosun-cli-client-'));
  home = join(scratch, 'home');
  work = join(scratch, 'work');
  mkdirSync(home, { recursive: true });
  mkdirSync(work, { recursive: true });
});
after(async () => {
  await api?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('the bosun command', () => {
  it('is what package.json `bin` names, an executable file, and it runs through a symlink as `npm link` makes it', async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const target = join(root, pkg.bin.bosun!);
    assert.ok(existsSync(target), `${pkg.bin.bosun} exists`);
    assert.ok(statSync(target).mode & 0o111, `${pkg.bin.bosun} is executable`);
    const linkDir = join(scratch, 'global-bin');
    mkdirSync(linkDir, { recursive: true });
    symlinkSync(target, join(linkDir, 'bosun'));
    const { stdout } = await exec(join(linkDir, 'bosun'), ['status'], { env: { PATH: process.env.PATH ?? '', HOME: home, BOSUN_URL: api.url }, cwd: work });
    assert.equal(stdout, 'ran: status\n');
  });

  it('prints the wall time of `bosun status` and `bosun help` (the compiled client on plain node; printed, not asserted)', async () => {
    const env = { BOSUN_URL: api.url };
    const figures: string[] = [];
    for (const args of [['status'], ['help']]) {
      const ms: number[] = [];
      for (let i = 0; i < 7; i++) {
        const started = process.hrtime.bigint();
        const r = await run(args, { env });
        ms.push(Number(process.hrtime.bigint() - started) / 1e6);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '', 'the compiled client ran (no tsx fallback notice)');
      }
      ms.sort((a, b) => a - b);
      figures.push(`bosun ${args.join(' ')}: median ${ms[3]!.toFixed(0)} ms, min ${ms[0]!.toFixed(0)} ms, max ${ms[6]!.toFixed(0)} ms`);
    }
    process.stderr.write(`CLI wall time over 7 runs each (process start to exit, against a local API): ${figures.join('; ')}\n`);
  });

  it('the compiled client loads only node built-ins and its own few files, none of the server', () => {
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)) {
        const spec = m[1] ?? m[2]!;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
        else bare.add(spec);
      }
    };
    visit(join(root, 'dist', 'src', 'cli', 'main.js'));
    assert.deepEqual(
      [...bare].filter((s) => !s.startsWith('node:')),
      [],
    );
    const files = [...seen].map((f) => f.slice(join(root, 'dist').length + 1)).sort();
    assert.deepEqual(
      files.filter((f) => !/^src\/(cli|domain)\//.test(f)),
      [],
      `loaded: ${files.join(', ')}`,
    );
  });
});

describe('chat commands from the terminal', () => {
  const cases: { args: string[]; sends: string }[] = [
    { args: ['lease', 'device', 'for', '2h'], sends: 'lease device for 2h' },
    { args: ['pass', '42'], sends: 'pass 42' },
    { args: ['promote', 'acme/api'], sends: 'promote acme/api' },
    { args: ['retry', '7', '--failed'], sends: 'retry 7 --failed' },
    { args: ['logs', '7', 'test', '--lines', '100'], sends: 'logs 7 test --lines 100' },
    { args: ['build', 'demo#my branch'], sends: 'build "demo#my branch"' },
    { args: ['--url', 'http://127.0.0.1:1', 'status'], sends: 'status' },
  ];
  for (const c of cases) {
    it(`bosun ${c.args.join(' ')} → the server reads \`${c.sends}\``, async () => {
      api.commands.length = 0;
      const args = c.args[0] === '--url' ? ['--url', api.url, ...c.args.slice(2)] : c.args;
      const r = await run(args, { env: { BOSUN_URL: api.url } });
      assert.equal(r.stderr, '');
      assert.deepEqual(
        api.commands.map((x) => x.text),
        [c.sends],
      );
      assert.equal(r.stdout, `ran: ${c.sends}\n`);
      assert.equal(r.code, 0);
    });
  }

  it('a refused command prints the reply and exits 1', async () => {
    api.reply = () => ({ text: 'this Bosun has no resource pools configured', kind: 'error' });
    try {
      const r = await run(['lease', 'device'], { env: { BOSUN_URL: api.url } });
      assert.deepEqual([r.stdout, r.code], ['this Bosun has no resource pools configured\n', 1]);
    } finally {
      api.reply = (text) => ({ text: `ran: ${text}`, kind: 'ok' });
    }
  });

  it("help lists the terminal commands, then the server's own commands", async () => {
    api.reply = (text) => ({
      text:
        text === 'help'
          ? 'Bosun commands (prefix with /ci in Slack, @bosun in Zulip, `bosun` in a terminal):\n  status [<build> | <repo>]  Show one build'
          : '?',
      kind: 'help',
    });
    try {
      const r = await run(['help'], { env: { BOSUN_URL: api.url } });
      const lines = r.stdout.split('\n');
      assert.equal(lines[0], 'usage: bosun [--url <url>] [--token <token>] <command> [<argument>…]');
      assert.ok(lines.includes('  watch <build>                            follow a build live until it ends (also: logs <build> --follow)'));
      assert.ok(lines.includes(`Chat commands, from the server at ${api.url}:`));
      assert.ok(lines.includes('  status [<build> | <repo>]  Show one build'));
      assert.equal(r.code, 0);
    } finally {
      api.reply = (text) => ({ text: `ran: ${text}`, kind: 'ok' });
    }
  });

  it('help without a server still shows the terminal commands, and says where the chat commands come from', async () => {
    const r = await run(['help'], { env: { BOSUN_URL: 'http://127.0.0.1:1' } });
    assert.match(r.stdout, /^usage: bosun /);
    assert.match(
      r.stdout,
      /\nThe chat commands \(status, lease, pass, …\) come from the server, which did not answer: cannot reach Bosun at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\); the URL came from BOSUN_URL/,
    );
    assert.equal(r.code, 0);
  });

  it('an unreachable server is named, with where its URL came from', async () => {
    const r = await run(['status'], { env: { BOSUN_PORT: '1' } });
    assert.equal(r.stderr, 'bosun: cannot reach Bosun at http://127.0.0.1:1 (ECONNREFUSED); the URL came from BOSUN_PORT — is `bosun start` running there?\n');
    assert.equal(r.code, 1);
  });

  it('logs <build> <stage>/<step> prints the whole log, not a tail', async () => {
    const lines = Array.from({ length: 120 }, (_, i) => `line ${i + 1}`);
    api.logs.set('9/test/unit', lines);
    const r = await run(['logs', '9', 'test/unit'], { env: { BOSUN_URL: api.url } });
    assert.equal(r.stdout, lines.map((l) => `${l}\n`).join(''));
  });
});

describe('where the token comes from', () => {
  const tokenIn = (dir: string, token: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'api-token'), `${token}\n`, { mode: 0o600 });
  };
  let project: string;
  before(() => {
    project = join(scratch, 'project');
    tokenIn(join(project, '.data'), 'token-from-dot-data');
    tokenIn(join(scratch, 'elsewhere'), 'token-from-data-dir');
    mkdirSync(join(project, 'a', 'b'), { recursive: true });
  });

  const cases: { name: string; args?: string[]; env?: () => Record<string, string>; cwd: () => string; sent: string }[] = [
    {
      name: '--token wins over everything',
      args: ['--token', 'token-from-flag'],
      env: () => ({ BOSUN_API_TOKEN: 'token-from-env' }),
      cwd: () => join(project, 'a', 'b'),
      sent: 'Bearer token-from-flag',
    },
    {
      name: 'then BOSUN_API_TOKEN',
      env: () => ({ BOSUN_API_TOKEN: 'token-from-env', BOSUN_DATA_DIR: join(scratch, 'elsewhere') }),
      cwd: () => project,
      sent: 'Bearer token-from-env',
    },
    {
      name: 'then $BOSUN_DATA_DIR/api-token',
      env: () => ({ BOSUN_DATA_DIR: join(scratch, 'elsewhere') }),
      cwd: () => project,
      sent: 'Bearer token-from-data-dir',
    },
    { name: 'then the nearest .data/api-token from the current directory up', cwd: () => join(project, 'a', 'b'), sent: 'Bearer token-from-dot-data' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      api.commands.length = 0;
      const r = await run([...(c.args ?? []), 'status'], { env: { BOSUN_URL: api.url, ...c.env?.() }, cwd: c.cwd() });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        api.commands.map((x) => x.authorization),
        [c.sent],
      );
    });
  }

  it('bosun login checks the token, saves URL and token 0600 in ~/.config/bosun/config.yml, and later commands use them', async () => {
    const loginHome = join(scratch, 'login-home');
    mkdirSync(loginHome, { recursive: true });
    api.token = 'the-real-token';
    try {
      const bad = await run(['login', api.url, '--token', 'wrong'], { env: { HOME: loginHome } });
      assert.equal(bad.stderr, 'bosun: a valid API token is required (Authorization: Bearer …)\n');
      assert.equal(bad.code, 1);
      const file = join(loginHome, '.config', 'bosun', 'config.yml');
      assert.ok(!existsSync(file), 'a refused token is not saved');

      const good = await run(['login', api.url], { env: { HOME: loginHome }, input: 'the-real-token\n' });
      assert.equal(good.stdout, `Logged in to ${api.url}; saved in ${file} (mode 0600).\n`);
      assert.equal(statSync(file).mode & 0o777, 0o600);

      api.commands.length = 0;
      const later = await run(['status'], { env: { HOME: loginHome } });
      assert.equal(later.code, 0, later.stderr);
      assert.deepEqual(
        api.commands.map((x) => x.authorization),
        ['Bearer the-real-token'],
      );
    } finally {
      api.token = undefined;
    }
  });

  it('no token anywhere: the refusal names every place looked at', async () => {
    api.token = 'the-real-token';
    try {
      const r = await run(['status'], { env: { BOSUN_URL: api.url }, cwd: work });
      assert.equal(
        r.stderr,
        `bosun: ${api.url} (from BOSUN_URL) needs a valid API token: no API token found; looked at: --token, BOSUN_API_TOKEN, $BOSUN_DATA_DIR/api-token (BOSUN_DATA_DIR unset), .data/api-token in ${work} and its parents, ${join(home, '.config', 'bosun', 'config.yml')} (absent). Run \`bosun login <url>\` or set BOSUN_API_TOKEN.\n`,
      );
      assert.equal(r.code, 1);
    } finally {
      api.token = undefined;
    }
  });
});

describe('build --follow and watch', () => {
  const plan = (name: string, timeoutSec = 600) => ({ name, image: 'img', commands: [], env: {}, timeoutSec, workdir: '.' });
  const at = (sec: number) => new Date(Date.UTC(2026, 11, 6, 9, 0, 0) + sec * 1000).toISOString();
  const step = (name: string, status: RunStatus, from: number, to: number, extra: Partial<StepRun> = {}): StepRun => ({
    name,
    status,
    image: 'img',
    plan: plan(name, extra.plan?.timeoutSec),
    runs: status === 'skipped' ? 0 : 1,
    startedAt: at(from),
    finishedAt: at(to),
    ...extra,
  });
  const build = (id: string, status: RunStatus, stages: Build['stages']): Build => ({
    id,
    repo: 'demo',
    ref: 'master',
    sha: 'a'.repeat(40),
    status,
    stages,
    attempt: 1,
    version: 1,
    createdAt: at(0),
    finishedAt: at(4),
    trigger: { event: 'manual', source: 'cli', actor: { id: 'api:env', name: 'env' } },
  });
  const stage = (name: string, status: RunStatus, steps: StepRun[]) => ({ name, status, needs: [], labels: [], resources: [], steps });

  before(() => {
    api.builds.set(
      '6',
      build('6', 'failed', [
        stage('test', 'failed', [
          step('unit', 'success', 0, 1.2, { exitCode: 0 }),
          step('mem', 'failed', 1.2, 3.2, { exitCode: 137, reason: 'oom', detail: 'limit 512 MiB' }),
        ]),
        stage('e2e', 'skipped', [step('smoke', 'skipped', 0, 0)]),
      ]),
    );
    api.logs.set('6/test/unit', ['Ran 3 tests', 'OK']);
    api.logs.set('6/test/mem', ['allocating', 'Killed', 'bosun: the step ran out of memory (limit 512 MiB) and was killed']);
    api.builds.set('7', build('7', 'success', [stage('test', 'success', [step('unit', 'success', 0, 12.4, { exitCode: 0 })])]));
    api.logs.set('7/test/unit', ['OK']);
    api.builds.set(
      '8',
      build('8', 'failed', [stage('test', 'failed', [step('slow', 'failed', 0, 3.9, { exitCode: 124, reason: 'timeout', plan: plan('slow', 3) })])]),
    );
    api.builds.set(
      '10',
      build('10', 'failed_infra', [
        stage('test', 'failed_infra', [
          step('soak', 'failed_infra', 0, 2, { exitCode: -1, reason: 'node_lost', detail: 'node vm (ynxl4hcc3gig) went down while the step ran' }),
        ]),
      ]),
    );
    api.builds.set('11', { ...build('11', 'failed', []), error: { code: 'spec_invalid', message: 'bosun.yml:3:5 stages.test.steps: expected an array' } });
  });

  it('a failing build: each step with its result and time, then which step failed, why, and its last lines; exit 1', async () => {
    api.reply = () => ({ text: 'Queued #6 demo#master (aaaaaaa) ◌ queued', kind: 'ok', build: api.builds.get('6')! });
    try {
      const r = await run(['build', 'demo#master', '--follow'], { env: { BOSUN_URL: api.url } });
      assert.deepEqual(r.stdout.split('\n'), [
        'Queued #6 demo#master (aaaaaaa) ◌ queued',
        '--- test/unit',
        'Ran 3 tests',
        'OK',
        '✔ test/unit: success in 1.2s',
        '--- test/mem',
        'allocating',
        'Killed',
        'bosun: the step ran out of memory (limit 512 MiB) and was killed',
        '✘ test/mem: failed, out of memory (limit 512 MiB), after 2.0s',
        '– e2e/smoke: skipped',
        '=== build #6 failed after 4.0s: step test/mem failed: out of memory (limit 512 MiB)',
        'last lines of test/mem:',
        '  allocating',
        '  Killed',
        '  bosun: the step ran out of memory (limit 512 MiB) and was killed',
        '',
      ]);
      assert.equal(r.code, 1);
    } finally {
      api.reply = (text) => ({ text: `ran: ${text}`, kind: 'ok' });
    }
  });

  const endings: { id: string; says: string[]; code: number }[] = [
    { id: '7', says: ['--- test/unit', 'OK', '✔ test/unit: success in 12s', '=== build #7 success in 4.0s', ''], code: 0 },
    {
      id: '8',
      says: [
        '--- test/slow',
        '✘ test/slow: failed, timed out (its timeout is 3s), after 3.9s',
        '=== build #8 failed after 4.0s: step test/slow failed: timed out (its timeout is 3s)',
        '',
      ],
      code: 1,
    },
    {
      id: '10',
      says: [
        '--- test/soak',
        '⚠ test/soak: failed_infra, node lost: node vm (ynxl4hcc3gig) went down while the step ran, after 2.0s',
        '=== build #10 failed_infra after 4.0s: step test/soak failed_infra: node lost: node vm (ynxl4hcc3gig) went down while the step ran',
        '',
      ],
      code: 2,
    },
    { id: '11', says: ['=== build #11 failed after 4.0s: bosun.yml:3:5 stages.test.steps: expected an array', ''], code: 1 },
  ];
  for (const e of endings) {
    it(`watch ${e.id}: ${e.says.at(-2)} (exit ${e.code})`, async () => {
      const r = await run(['watch', e.id], { env: { BOSUN_URL: api.url, NO_COLOR: '1' } });
      assert.deepEqual(r.stdout.split('\n'), e.says);
      assert.equal(r.code, e.code);
    });
  }
});

describe('a stage that waits for a worker nobody runs', () => {
  it('watch shows the notice while it waits, then the end; a cancelled build exits 3', async () => {
    const notice = 'no worker with the labels macos is running, so this stage waits; start one with `bosun worker --labels macos`';
    const base = {
      repo: 'demo',
      ref: 'master',
      sha: 'a'.repeat(40),
      attempt: 1,
      version: 1,
      createdAt: '2026-12-06T09:00:00.000Z',
      trigger: { event: 'manual' as const, source: 'cli', actor: { id: 'api:env', name: 'env' } },
    };
    const stage = { name: 'mac', needs: [], labels: ['macos'], resources: [], steps: [] };
    api.builds.set('12', { ...base, id: '12', status: 'running', stages: [{ ...stage, status: 'queued', notice }] });
    const cancelLater = setTimeout(
      () =>
        api.builds.set('12', {
          ...base,
          id: '12',
          status: 'cancelled',
          finishedAt: '2026-12-06T09:01:05.000Z',
          stages: [{ ...stage, status: 'cancelled', notice }],
        }),
      1500,
    );
    try {
      const r = await run(['watch', '12'], { env: { BOSUN_URL: api.url } });
      assert.deepEqual(r.stdout.split('\n'), [`⚠ mac: ${notice}`, '=== build #12 cancelled after 1m05s', '']);
      assert.equal(r.code, 3);
    } finally {
      clearTimeout(cancelLater);
    }
  });
});

describe('the login file', () => {
  it('is refused by name when it holds more than url and token', async () => {
    const weird = join(scratch, 'weird-home');
    mkdirSync(join(weird, '.config', 'bosun'), { recursive: true });
    const file = join(weird, '.config', 'bosun', 'config.yml');
    writeFileSync(file, 'url: http://127.0.0.1:1\nservers: [a, b]\n');
    chmodSync(file, 0o600);
    const r = await run(['status'], { env: { HOME: weird } });
    assert.equal(r.stderr, `bosun: ${file}:2: expected \`url: <server URL>\` or \`token: <API token>\`\n`);
    assert.equal(r.code, 1);
  });
});
