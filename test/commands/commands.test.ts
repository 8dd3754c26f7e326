import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dispatch } from '../../commands/dispatch.js';
import type { CommandContext } from '../../commands/command.js';
import { commands as registry } from '../../commands/index.js';
import { merge } from '../../commands/merge.js';
import { promote } from '../../commands/promote.js';
import { okToTest } from '../../commands/ok-to-test.js';
import { fakeCommandServices } from '../fakes/fake-command-services.js';

// Prow-style: what a person types, what Bosun answers (every line), and what it asked of the
// services behind the commands (fakes that record). Usage errors all come from dispatch,
// built from the command's own help.usage and examples: no command writes its own.
const all = [...registry.filter((c) => c.name !== 'help'), merge, promote, okToTest];

const cases: { typed: string; says: string; calls: string[] }[] = [
  { typed: 'cancel #42', says: 'Cancelled #42 demo#master (aaaaaaa) ■ cancelled', calls: ['cancel 42'] },
  { typed: 'stop 42', says: 'Cancelled #42 demo#master (aaaaaaa) ■ cancelled', calls: ['cancel 42'] },
  { typed: 'cancel', says: 'usage: cancel <build> — e.g. cancel #42', calls: [] },
  { typed: 'cancel 7', says: 'no build #7', calls: ['cancel 7'] },
  { typed: 'retry 42 --failed', says: 'Retrying from the failed step #42 demo#master (aaaaaaa) ◌ queued', calls: ['retry 42 failed'] },
  { typed: 'retry 42 --everything', says: 'usage: retry <build> [--failed] — e.g. retry #42, retry 42 --failed', calls: [] },
  { typed: 'pass 42 e2e', says: 'Passed the checkpoint of the stage in #42 demo#master (aaaaaaa) ▶ running (by alice).', calls: ['pass 42 e2e'] },
  { typed: 'reject 42 e2e extra', says: 'usage: fail <build> [<stage>] — e.g. fail #42, fail 42 e2e', calls: [] },
  {
    typed: 'logs 42 test/unit --lines 5',
    says: 'Build #42 test/unit, last 1 lines — full log: http://127.0.0.1:8080/builds/42',
    calls: ['logs 42 test/unit 5'],
  },
  { typed: 'logs', says: 'usage: logs <build> [<stage>[/<step>]] [--lines N] — e.g. logs #42, logs 42 test/unit', calls: [] },
  { typed: 'renew L-1 1h', says: 'Renewed L-1: pixel-7 is yours until 2030-01-01 10:00 UTC.', calls: ['renew L-1 3600'] },
  { typed: 'renew L-1 soon', says: 'usage: renew <lease> [<duration>] — e.g. renew L-12, renew L-12 1h', calls: [] },
  { typed: 'release', says: 'usage: release <lease> — e.g. release L-12', calls: [] },
  {
    typed: 'lease phones for ever',
    says: 'Durations look like 30m, 2h or 1d, after the word for, last.\nusage: lease [<pool>] [<attribute>…] [for <duration>] — e.g. lease device, lease android pixel-7 for 30m',
    calls: [],
  },
  { typed: 'merge acme/api#12', says: 'Merged acme/api#12.', calls: ['merge acme/api#12'] },
  { typed: 'merge acme/api', says: 'usage: merge <owner/repo>#<pull request> — e.g. merge acme/api#123', calls: [] },
  { typed: 'promote', says: 'usage: promote <owner/repo> — e.g. promote acme/api', calls: [] },
  { typed: 'ok-to-test a b', says: 'usage: ok-to-test [<owner/repo>#<pull request>] — e.g. ok-to-test, ok-to-test acme/api#7', calls: [] },
  { typed: 'build', says: 'usage: build <repo>[#<branch|tag|sha>] — e.g. build demo#master, build acme/api#feature-x', calls: [] },
];

describe('commands, as typed, against fake services', () => {
  for (const c of cases) {
    it(`\`${c.typed}\` → ${c.says.split('\n')[0]}`, async () => {
      const services = fakeCommandServices();
      const ctx: CommandContext = {
        actor: { id: 'slack:T/UA', name: 'alice' },
        source: 'slack',
        builds: services.builds,
        leases: services.leases,
        github: services.github,
      };
      const reply = await dispatch(c.typed, ctx, all);
      assert.equal(reply.text, c.says);
      assert.deepEqual(services.calls, c.calls);
    });
  }
});
