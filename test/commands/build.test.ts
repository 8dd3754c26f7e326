import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dispatch } from '../../commands/dispatch.js';
import type { BuildService, CommandContext } from '../../commands/command.js';
import type { Build } from '../../src/domain/build.js';

/** A BuildService that records what it was asked to build. */
function recordingBuilds(): BuildService & { created: { repo: string; ref: string | null }[] } {
  const created: { repo: string; ref: string | null }[] = [];
  return {
    created,
    async create(input) {
      created.push(input);
      return {
        id: '1',
        repo: input.repo,
        ref: input.ref ?? 'master',
        sha: 'a'.repeat(40),
        status: 'queued',
        stages: [],
        attempt: 1,
        version: 0,
        createdAt: '',
        trigger: { event: 'manual', source: 'slack', actor: { id: 'slack:T/U', name: 'u' } },
      } as Build;
    },
    get: async () => null,
    list: async () => [],
    cancel: async () => {
      throw new Error('unused');
    },
    retry: async () => {
      throw new Error('unused');
    },
    decide: async () => {
      throw new Error('unused');
    },
    logTail: async () => null,
    buildUrl: () => undefined,
  };
}

const cases: { typed: string; says: string; builds: number }[] = [
  { typed: 'build demo#master', says: 'Queued #1 demo#master (aaaaaaa) ◌ queued', builds: 1 },
  { typed: 'build demo#my branch', says: '"demo#my branch" has a space in its ref: branch and tag names cannot contain spaces (git refuses them).', builds: 0 },
  {
    typed: 'build demo master',
    says: 'build takes one target, <repo>[#<ref>], and got 2 words: "demo master". To build a branch, join them with #: build demo#<branch>',
    builds: 0,
  },
  { typed: 'build "demo#my branch"', says: 'invalid ref "my branch": must not contain whitespace', builds: 0 },
  { typed: 'build', says: 'usage: build <repo>[#<branch|tag|sha>] — e.g. build demo#master, build acme/api#feature-x', builds: 0 },
];

describe('build, as typed in chat', () => {
  for (const c of cases) {
    it(`\`${c.typed}\` → ${c.says}`, async () => {
      const builds = recordingBuilds();
      const ctx: CommandContext = { actor: { id: 'slack:T/U', name: 'u' }, source: 'slack', builds };
      const reply = await dispatch(c.typed, ctx);
      assert.equal(reply.text.split('\n')[0], c.says);
      assert.equal(builds.created.length, c.builds);
    });
  }
});
