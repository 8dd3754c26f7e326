import type { BuildService, GithubCommands } from '../../commands/command.js';
import type { LeaseService, LeaseView } from '../../commands/lease-service.js';
import type { Build } from '../../src/domain/build.js';
import { UserError } from '../../src/errors.js';

/** A build as the fakes return it: `#<id> demo#master (aaaaaaa)`. */
export function fakeBuild(id: string, status: Build['status'] = 'queued'): Build {
  return {
    id,
    repo: 'demo',
    ref: 'master',
    sha: 'a'.repeat(40),
    status,
    stages: [],
    attempt: 1,
    version: 0,
    createdAt: '2026-01-01T00:00:00.000Z',
    trigger: { event: 'manual', source: 'slack', actor: { id: 'slack:T/U', name: 'u' } },
  };
}

/**
 * The services commands talk to, in memory, recording every call in `calls` as one line
 * (`cancel 42`, `retry 42 failed`, `renew L-1 3600` …), for table tests of commands. Build 42
 * exists; any other build id is refused as an unknown build, as the real service does.
 */
export function fakeCommandServices(): { calls: string[]; builds: BuildService; leases: LeaseService; github: GithubCommands } {
  const calls: string[] = [];
  const known = (id: string): Build => {
    if (id !== '42') throw new UserError('unknown_build', `no build #${id}`);
    return fakeBuild(id, 'running');
  };
  const lease = (id: string): LeaseView => ({
    id,
    pool: 'phones',
    attributes: [],
    holder: { id: 'slack:T/U', name: 'u' },
    state: 'active',
    requestedAt: '',
    item: 'pixel-7',
    expiresAt: '2030-01-01T10:00:00.000Z',
  });
  const builds: BuildService = {
    async create(input) {
      calls.push(`create ${input.repo}#${input.ref ?? ''}`);
      return fakeBuild('1');
    },
    get: async (id) => (id === '42' ? fakeBuild(id, 'running') : null),
    list: async () => [],
    async cancel(id) {
      calls.push(`cancel ${id}`);
      return { ...known(id), status: 'cancelled' };
    },
    async retry(id, fromFailed) {
      calls.push(`retry ${id}${fromFailed ? ' failed' : ''}`);
      return { ...known(id), id: fromFailed ? id : '43', status: 'queued' };
    },
    async decide(id, stage, decision) {
      calls.push(`${decision} ${id}${stage ? ` ${stage}` : ''}`);
      return { build: known(id), outcome: decision === 'pass' ? 'passed' : 'failed' };
    },
    async logTail(id, target, lines) {
      calls.push(`logs ${id} ${target.stage ?? '-'}/${target.step ?? '-'} ${lines}`);
      known(id);
      return { stage: target.stage ?? 'test', step: target.step ?? 'unit', lines: [{ n: 1, text: 'ok 1' }] };
    },
    buildUrl: (id) => `http://127.0.0.1:8080/builds/${id}`,
  };
  const leases: LeaseService = {
    async request(words, ttlSec) {
      calls.push(`lease ${words.join(' ')}${ttlSec ? ` ${ttlSec}` : ''}`);
      return { status: 'granted', lease: lease('L-1') };
    },
    board: async () => [],
    async renew(id, ttlSec) {
      calls.push(`renew ${id}${ttlSec ? ` ${ttlSec}` : ''}`);
      return lease(id);
    },
    async release(id) {
      calls.push(`release ${id}`);
      return { ...lease(id), state: 'released' };
    },
  };
  const github: GithubCommands = {
    async merge(target) {
      calls.push(`merge ${target.repo}#${target.number}`);
      return `Merged ${target.repo}#${target.number}.`;
    },
    async promote(repo) {
      calls.push(`promote ${repo}`);
      return { text: `Promotion of ${repo} requested.` };
    },
    async okToTest(pr) {
      calls.push(`ok-to-test ${pr.repo}#${pr.number}`);
      return `Testing ${pr.repo}#${pr.number}.`;
    },
  };
  return { calls, builds, leases, github };
}
