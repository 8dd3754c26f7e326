import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeNarrowed, narrowPolicy } from '../../src/executor/container/egress-narrowing.js';
import { NetworkConfig } from '../../src/executor/container/egress-policy.js';
import { egressBatch, egressNames } from '../../src/executor/container/egress-rules.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalExecutor } from '../../src/executor/local/local-executor.js';
import { UserError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { makeSpec } from './contract-support.js';

// The server's policy narrowed by a repository's bosun.yml `network:` (never wider), as the
// executors apply it at run time: whatever would widen is ignored and said so.

const server = (over: Partial<NetworkConfig> = {}): NetworkConfig => NetworkConfig.parse(over);

describe('narrowPolicy', () => {
  it('without a request the server policy is the build policy', () => {
    const s = server({ allow: ['10.1.0.0/16'] });
    assert.deepEqual(narrowPolicy(s, undefined), { policy: s, issues: [] });
  });

  it('egress none under internet: no route, no allow', () => {
    const { policy, issues } = narrowPolicy(server({ allow: ['10.1.0.0/16'] }), { egress: 'none' });
    assert.equal(policy.egress, 'none');
    assert.deepEqual(policy.allow, []);
    assert.deepEqual(issues, []);
  });

  it('an allowlist under internet keeps only its own entries, the server denies and adds its own', () => {
    const { policy } = narrowPolicy(server({ allow: ['10.1.0.0/16'], deny: ['198.51.100.99'] }), {
      egress: 'allowlist',
      allow: ['198.51.100.10:80'],
      deny: ['198.51.100.98'],
    });
    assert.equal(policy.egress, 'allowlist');
    assert.deepEqual(policy.allow, ['198.51.100.10:80']);
    assert.deepEqual(policy.deny, ['198.51.100.99', '198.51.100.98']);
    const batch = egressBatch(policy, egressNames('t', 'b1'), [], { forward: false, input: false });
    assert.match(batch, /-d 198\.51\.100\.10 -p tcp -m tcp --dport 80 -j RETURN/);
    assert.doesNotMatch(batch, /10\.1\.0\.0\/16/, 'the server hole is not in the repository allowlist');
    assert.match(batch, /-d 198\.51\.100\.98 -j REJECT/);
  });

  it('at run time, a widening is ignored: the narrower policy wins', () => {
    const s = server({ egress: 'allowlist', allow: ['198.51.100.10:80'] });
    const { policy, issues } = narrowPolicy(s, { egress: 'internet' });
    assert.equal(policy.egress, 'allowlist');
    assert.deepEqual(policy.allow, ['198.51.100.10:80']);
    assert.deepEqual(
      issues.map((i) => i.kind),
      ['widening'],
    );

    const entries = narrowPolicy(s, { egress: 'allowlist', allow: ['198.51.100.10:80', '198.51.100.20:80'] });
    assert.deepEqual(entries.policy.allow, ['198.51.100.10:80']);
    assert.deepEqual(entries.issues[0]?.path, ['network', 'allow', 1]);
  });

  it("the server's proxy stays under a repository allowlist only when the allowlist names it", () => {
    const proxy = { http: 'http://198.51.100.10:3128', https: 'http://198.51.100.10:3128', noProxy: [] };
    const kept = narrowPolicy(server({ proxy }), { egress: 'allowlist', allow: ['198.51.100.10:3128'] });
    assert.deepEqual(kept.policy.proxy, proxy);
    assert.deepEqual(kept.issues, []);

    const privateProxy = { http: 'http://10.0.0.5:3128', noProxy: [] };
    const underAllowlist = narrowPolicy(server({ egress: 'allowlist', allow: [], proxy: privateProxy }), { egress: 'allowlist', allow: ['10.0.0.5:3128'] });
    assert.deepEqual(underAllowlist.issues, [], "the server's proxy is inside what the server lets steps reach");
    assert.deepEqual(underAllowlist.policy.proxy, privateProxy);

    const dropped = narrowPolicy(server({ proxy }), { egress: 'allowlist', allow: ['198.51.100.10:80'] });
    assert.equal(dropped.policy.proxy, undefined);
    assert.deepEqual(
      dropped.issues.map((i) => i.kind),
      ['note'],
    );
  });

  it('the policy line says the build narrowed it, and what was ignored and why', () => {
    const s = server({ egress: 'allowlist', allow: ['198.51.100.0/24:80'] });
    assert.equal(
      describeNarrowed(s, { egress: 'internet', deny: ['198.51.100.20'] }),
      "egress=allowlist (allowed: 198.51.100.0/24:80, and DNS; this host, link-local incl. 169.254.169.254 and other builds are blocked); denied: 198.51.100.20 [narrowed by bosun.yml from the server's egress=allowlist; ignored, the narrower policy wins: network.egress: `egress: internet` would widen the server's policy (server config network.egress is allowlist); a repository may only narrow it]",
    );
    assert.equal(
      describeNarrowed(s, undefined),
      'egress=allowlist (allowed: 198.51.100.0/24:80, and DNS; this host, link-local incl. 169.254.169.254 and other builds are blocked)',
    );
  });

  it('the local executor refuses a step whose build narrows the policy (it cannot enforce it), and runs one that does not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bosun-narrow-local-'));
    const executor = new LocalExecutor({ instanceId: `narrow${process.pid}`, dataDir: dir, log: silentLogger(), timeoutGraceMs: 1000 });
    try {
      const spec = makeSpec({ workspace: dir, image: 'any', buildId: 'n1' }, { commands: ['echo ran'] });
      await assert.rejects(
        executor.start({ ...spec, network: { egress: 'none' } }),
        (err: unknown) => err instanceof UserError && /cannot be enforced by the local executor/.test(err.message),
      );
      const handle = await executor.start(spec);
      assert.equal((await handle.wait()).exitCode, 0);
      await handle.destroy();
    } finally {
      await executor.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
