import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { checkout } from '../../src/git/checkout.js';
import { GitMirrors } from '../../src/git/git-mirrors.js';
import { tokenAuthEnv } from '../../src/git/git-auth.js';

const token = 'ghs_shortLivedToken0123456789';

test('checkout sends the token as an http header, and it lands in neither the URL, .git/config, the host mirror nor the error', async () => {
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/acme/api.git`;
  const dir = join(mkdtempSync(join(tmpdir(), 'bosun-auth-')), 'ws');
  const mirrorsDir = mkdtempSync(join(tmpdir(), 'bosun-auth-mirrors-'));
  const mirrors = new GitMirrors(mirrorsDir);
  try {
    const err = await checkout(url, 'a'.repeat(40), dir, { mirrors, extraEnv: tokenAuthEnv(url, token) }).then(
      () => null,
      (e: unknown) => e as Error,
    );

    assert.ok(err, 'the fake server has no repository');
    assert.ok(seen.includes(`Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`), JSON.stringify(seen));
    assert.ok(!existsSync(dir), 'a failed checkout leaves no half-made directory (nor a .git/config to hold a token)');
    assert.deepEqual(readdirSync(join(dir, '..')), [], 'nor a temporary one beside it');
    const mirrorFiles = readdirSync(mirrorsDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.ok(
      mirrorFiles.some((e) => e.name === 'config'),
      'the mirror was made (and is searched below)',
    );
    for (const f of mirrorFiles) {
      const text = readFileSync(join(f.parentPath, f.name), 'latin1');
      assert.ok(!text.includes(token) && !text.includes('x-access-token') && !text.includes('Authorization'), `${f.name} holds no credential`);
    }
    assert.ok(!String(err.message).includes(token) && !String(err.message).includes(Buffer.from(`x-access-token:${token}`).toString('base64')));
  } finally {
    server.close();
  }
});

test('file:// and local paths get no auth env; the header is scoped to the repository origin', () => {
  assert.deepEqual(tokenAuthEnv('file:///srv/git/api.git', token), {});
  assert.deepEqual(tokenAuthEnv('/srv/git/api.git', token), {});
  assert.equal(tokenAuthEnv('https://github.com/acme/api.git', token).GIT_CONFIG_KEY_0, 'http.https://github.com/.extraHeader');
});
