import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { BuildResources, type BuildKey, type Claimable } from '../../src/executor/container/build-resources.js';
import { claimMarkerName } from '../../src/executor/container/pool-names.js';
import { runId } from './contract-support.js';
import { engineForTests } from './docker-harness.js';

/**
 * The claim marker decides once under which key a build lives, for every process: N resolvers
 * (as N worker processes would) deciding the same build at the same moment, each offering its
 * own pool entry, agree on one key and exactly one of them claims. A marker made as a network
 * by name fails this (two concurrent creates of one network name can both succeed).
 */
const docker = await engineForTests(false);
if (docker) {
  const instanceId = `tbr-${runId}`;
  const made: string[] = [];
  after(async () => {
    for (const buildId of made)
      await docker
        .getVolume(claimMarkerName(instanceId, buildId))
        .remove()
        .catch(() => undefined);
  });
  describe('the claim marker', () => {
    it('4 processes deciding one build at once agree on one key, and one claims (20 builds)', { timeout: 120_000 }, async () => {
      for (let round = 0; round < 20; round += 1) {
        const buildId = `r${round}`;
        made.push(buildId);
        const given: string[] = [];
        const offered: string[] = [];
        const results: BuildKey[] = await Promise.all(
          [0, 1, 2, 3].map((p) => {
            const entry: Claimable = { entryId: `e${round}x${p}`, key: `pool-${round.toString().padStart(2, '0')}${p}aaaaaaaaa` };
            return new BuildResources(docker, instanceId, true).key(
              buildId,
              () => (offered.push(entry.entryId), entry),
              (back) => given.push(back.entryId),
            );
          }),
        );
        const keys = new Set(results.map((r) => r.key));
        assert.equal(keys.size, 1, `round ${round}: ${JSON.stringify(results)}`);
        const claimed = results.filter((r) => r.claimed);
        assert.equal(claimed.length, 1, `round ${round}: one claims`);
        assert.equal(claimed[0]!.key, [...keys][0]);
        // A process that read the marker first offers nothing; every other offer but the claim comes back.
        const claimedEntry = claimed[0]!.claimed!.entryId;
        assert.deepEqual(new Set(given), new Set(offered.filter((e) => e !== claimedEntry)), 'the other offers are given back');
        // A later process reads the same key back.
        assert.equal(await new BuildResources(docker, instanceId, true).existingKey(buildId), claimed[0]!.key);
      }
    });
  });
}
