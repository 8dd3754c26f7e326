import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSpec, type ParseResult } from '../../src/spec/parse-spec.js';
import { formatSpecError } from '../../src/spec/spec-error.js';
import { compilePlan } from '../../src/spec/compile-plan.js';
import { NetworkConfig } from '../../src/executor/container/egress-policy.js';

// bosun.yml `network:` narrows the server's egress policy and never widens it (R8): what would
// widen it is a spec error with its line when the build starts (docs/network.md).

const server = (over: Partial<NetworkConfig> = {}): NetworkConfig => NetworkConfig.parse(over);
const spec = (network: string): string => `version: 1\nimage: a\n${network}stages:\n  test:\n    steps: [{ name: a, run: x }]\n`;

function errorsOf(result: ParseResult): string[] {
  return result.ok ? [] : result.errors.map(formatSpecError);
}

describe('bosun.yml network: checked against the server policy', () => {
  const cases: { name: string; server: NetworkConfig; network: string; errors: string[] }[] = [
    { name: 'egress none under internet is a narrowing', server: server(), network: 'network: { egress: none }\n', errors: [] },
    {
      name: 'an allowlist of public addresses under internet is a narrowing',
      server: server(),
      network: 'network:\n  egress: allowlist\n  allow: ["198.51.100.10:80", 198.51.100.0/24]\n',
      errors: [],
    },
    { name: 'more deny entries are a narrowing', server: server({ deny: ['203.0.113.0/24'] }), network: 'network: { deny: [198.51.100.20] }\n', errors: [] },
    {
      name: 'egress internet under an allowlist server is refused at its line',
      server: server({ egress: 'allowlist', allow: ['198.51.100.10:80'] }),
      network: 'network:\n  egress: internet\n',
      errors: [
        "bosun.yml:4:11 network.egress: `egress: internet` would widen the server's policy (server config network.egress is allowlist); a repository may only narrow it",
      ],
    },
    {
      name: 'egress allowlist under a none server is refused',
      server: server({ egress: 'none' }),
      network: 'network: { egress: allowlist, allow: [] }\n',
      errors: [
        "bosun.yml:3:20 network.egress: `egress: allowlist` would widen the server's policy (server config network.egress is none); a repository may only narrow it",
      ],
    },
    {
      name: "an allow entry outside the server's allowlist is refused, one inside passes",
      server: server({ egress: 'allowlist', allow: ['198.51.100.0/24:80'] }),
      network: 'network:\n  egress: allowlist\n  allow: ["198.51.100.10:80", "198.51.100.10", "203.0.113.5:80"]\n',
      errors: [
        "bosun.yml:5:31 network.allow[1]: 198.51.100.10 is not inside the server's allowlist (server config network.allow: 198.51.100.0/24:80); a repository may only narrow it",
        "bosun.yml:5:48 network.allow[2]: 203.0.113.5:80 is not inside the server's allowlist (server config network.allow: 198.51.100.0/24:80); a repository may only narrow it",
      ],
    },
    {
      name: 'under internet, a private range the server does not open is refused; one it opens passes',
      server: server({ allow: ['10.1.0.0/16'] }),
      network: 'network:\n  egress: allowlist\n  allow: [10.1.2.3:5432, 10.2.0.1, 0.0.0.0/0]\n',
      errors: [
        'bosun.yml:5:26 network.allow[1]: 10.2.0.1 is in the private range 10.0.0.0/8, which server config does not open (network.allow); a repository may only narrow the policy',
        'bosun.yml:5:36 network.allow[2]: 0.0.0.0/0 is link-local (169.254.0.0/16, the metadata address included), which steps never reach',
      ],
    },
    {
      name: 'the metadata address is refused',
      server: server(),
      network: 'network: { egress: allowlist, allow: [169.254.169.254:80] }\n',
      errors: ['bosun.yml:3:39 network.allow[0]: 169.254.169.254:80 is link-local (169.254.0.0/16, the metadata address included), which steps never reach'],
    },
    {
      name: 'an allow entry inside a server deny is refused (a repository cannot lift a deny)',
      server: server({ deny: ['198.51.100.0/24'] }),
      network: 'network: { egress: allowlist, allow: [198.51.100.10:80] }\n',
      errors: ['bosun.yml:3:39 network.allow[0]: 198.51.100.10:80 is refused by server config (network.deny 198.51.100.0/24), which a repository cannot lift'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(errorsOf(parseSpec(spec(c.network), 'bosun.yml', { network: c.server })), c.errors);
    });
  }

  it('allow without egress: allowlist is refused (it would open holes), and allowlist needs allow', () => {
    assert.deepEqual(errorsOf(parseSpec(spec('network: { allow: [198.51.100.10] }\n'))), [
      'bosun.yml:3:12 network.allow: `allow` goes with `egress: allowlist` (what steps may reach, and nothing else); a repository narrows the policy, it cannot open holes in it',
    ]);
    assert.deepEqual(errorsOf(parseSpec(spec('network: { egress: allowlist }\n'))), [
      'bosun.yml:3:20 network.egress: `egress: allowlist` needs `allow:` (the addresses steps may reach; `[]` for nothing but DNS)',
    ]);
  });

  it('refuses host names and bad values with their line', () => {
    assert.deepEqual(errorsOf(parseSpec(spec('network: { egress: open, allow: [pypi.org:443] }\n'))), [
      'bosun.yml:3:20 network.egress: expected one of internet, allowlist, none',
      'bosun.yml:3:34 network.allow[0]: expected an IPv4 address or CIDR, optionally with :port (198.51.100.10:80, 10.1.0.0/16); host names are not supported (rules match addresses)',
    ]);
  });

  it('`network` on a stage or a step says where it goes', () => {
    const text = 'version: 1\nimage: a\nstages:\n  test:\n    network: { egress: none }\n    steps: [{ name: a, run: x }]\n';
    assert.deepEqual(errorsOf(parseSpec(text)), [
      "bosun.yml:5:5 stages.test.network: `network` goes at the top of bosun.yml (a build's steps and services share one network); there it narrows the server's egress policy, never widens it",
    ]);
  });

  it('the plan keeps the request as written (the executor narrows with it at run time)', () => {
    const parsed = parseSpec(spec('network: { egress: allowlist, allow: [198.51.100.10:80], deny: [198.51.100.99] }\n'), 'bosun.yml', { network: server() });
    assert.ok(parsed.ok);
    const plan = compilePlan(parsed.spec, { event: 'push', branch: 'master' }, 'bosun.yml');
    assert.deepEqual(plan.network, { egress: 'allowlist', allow: ['198.51.100.10:80'], deny: ['198.51.100.99'] });
    const plain = parseSpec(spec(''));
    assert.ok(plain.ok);
    assert.equal('network' in compilePlan(plain.spec, { event: 'push', branch: 'master' }, 'bosun.yml'), false);
  });
});
