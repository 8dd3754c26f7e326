import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dispatch } from '../../commands/dispatch.js';
import type { BuildService, CommandContext } from '../../commands/command.js';
import type { LeaseService } from '../../commands/lease-service.js';

const builds = {} as BuildService;
const listed = async (ctx: CommandContext) =>
  (await dispatch('help', ctx)).text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(' ')[0])
    .filter(Boolean);

// Help promises only what this server can do: the lease commands need resource pools.
describe('help lists what works here', () => {
  it('without resource pools: no lease commands', async () => {
    const names = await listed({ actor: { id: 'cli:a', name: 'a' }, source: 'cli', builds });
    assert.deepEqual(
      names.filter((n) => ['lease', 'leases', 'renew', 'release'].includes(n!)),
      [],
    );
    assert.ok(names.includes('build') && names.includes('pass'), names.join(' '));
  });

  it('with resource pools: lease, leases, renew and release', async () => {
    const names = await listed({ actor: { id: 'cli:a', name: 'a' }, source: 'cli', builds, leases: {} as LeaseService });
    assert.deepEqual(
      names.filter((n) => ['lease', 'leases', 'renew', 'release'].includes(n!)),
      ['lease', 'leases', 'renew', 'release'],
    );
  });

  it('a lease command typed anyway says why it cannot run', async () => {
    const reply = await dispatch('lease device', { actor: { id: 'cli:a', name: 'a' }, source: 'cli', builds });
    assert.equal(reply.text, 'this Bosun has no resource pools configured');
  });
});
