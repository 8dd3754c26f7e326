import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';

// Two Bosun instances in one process, as tests run them: whatever one instance's wiring owns
// (the GitHub commands its front end provides, its repository mirrors, its compiled plans)
// must never be reached through the other.
let withGithub: Harness;
let plain: Harness;

before(async () => {
  // Nothing answers on port 9: a merge that reaches this GitHub fails to connect.
  withGithub = await startHarness({
    workers: 0,
    github: { webhookSecrets: ['two-instances-secret-0123456789'], token: 'ghs_faketoken0123456789', apiUrl: 'http://127.0.0.1:9' },
  });
  plain = await startHarness({ workers: 0 });
});
after(async () => {
  await plain?.stop();
  await withGithub?.stop();
});

async function command(h: Harness, text: string): Promise<string> {
  const res = await h.api('POST', '/api/commands', { text });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return (res.json as { text: string }).text;
}

test("an instance without GitHub refuses GitHub's commands, though another instance in the process has GitHub", async () => {
  assert.match(await command(plain, 'merge acme/api#1'), /^GitHub is not configured on this server\nusage: merge/);
  assert.match(await command(plain, 'promote acme/api'), /^GitHub is not configured on this server/);
  assert.doesNotMatch(await command(plain, 'help'), /merge|promote|ok-to-test/);
});

test('the instance with GitHub offers its commands and reaches its own GitHub', async () => {
  const help = await command(withGithub, 'help');
  for (const name of ['merge', 'promote', 'ok-to-test']) assert.match(help, new RegExp(`^  ${name} `, 'm'), help);
  // It got as far as calling its GitHub (nothing listens there), so the service was its own.
  assert.doesNotMatch(await command(withGithub, 'merge acme/api#1'), /GitHub is not configured/);
});

test('each instance owns its repository mirrors and plan cache', () => {
  const a = withGithub.server.core.deps;
  const b = plain.server.core.deps;
  assert.notEqual(a.mirrors, b.mirrors);
  assert.notEqual(a.plans, b.plans);
  assert.equal(a.mirrors.pathOf('https://example.invalid/r.git').startsWith(`${withGithub.dataDir}/git-mirrors/`), true);
  assert.equal(b.mirrors.pathOf('https://example.invalid/r.git').startsWith(`${plain.dataDir}/git-mirrors/`), true);
});
