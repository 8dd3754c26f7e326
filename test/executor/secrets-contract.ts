import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { labelKeys, type StepSecret, type StepSpec } from '../../src/executor/executor.js';
import { collect, makeSpec, makeWorkspace, runId, runStep, waitFor, type ContractHarness } from './contract-support.js';

/** What the secrets suite needs beyond the contract harness. */
export interface SecretsHarness extends ContractHarness {
  /** Everything the engine (or the OS) shows about the step behind `ref` while it runs, as text. */
  inspectText(ref: string): Promise<string>;
  /** Secret resources left for this build (swarm: Docker secrets; local: the step's directory). */
  secretResources(buildId: string, secretsDir: string): Promise<string[]>;
}

const caseOptions = { timeout: 90_000 };

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Secrets delivery (R14) as one suite for every executor: files in the secrets directory, the
 * env form exported by the script, nothing in any spec `inspect` shows, nothing left after.
 * Values are never printed: the step prints their hashes.
 */
export function runSecretsContract(name: string, makeExecutor: () => Promise<SecretsHarness>): void {
  describe(`executor secrets: ${name}`, { concurrency: 2, timeout: 240_000 }, () => {
    let h: SecretsHarness;
    let workspace: string;
    const buildId = `sec${runId}${name}`;
    const spec = (over: Partial<StepSpec> = {}): StepSpec => makeSpec({ workspace, image: h.baseImage, buildId }, over);
    // Newlines, quotes, a backslash, `$`, a space and UTF-8: the file must hold exactly these bytes.
    const tricky = `tok-${runId}-"q'uo\\te"$HOME é\nsecond line`;
    const plain = `plain-${runId}-value`;
    const secrets: StepSecret[] = [
      { name: 'PYPI_TOKEN', value: tricky, env: ['TWINE_PASSWORD'] },
      { name: 'NPM_TOKEN', value: plain, env: ['NPM_TOKEN', 'NODE_AUTH_TOKEN'] },
    ];

    before(async () => {
      workspace = makeWorkspace();
      h = await makeExecutor();
    });

    after(async () => {
      await h?.executor.cleanupBuild(buildId);
      await h?.close();
    });

    it('a step reads each secret as a file and as the variables it asked for; inspect shows no value', caseOptions, async () => {
      const handle = await h.executor.start(
        spec({
          secrets,
          commands: [
            'echo "dir=$BOSUN_SECRETS_DIR"',
            'echo "file=$(sha256sum "$BOSUN_SECRETS_DIR/PYPI_TOKEN" | cut -c1-64)"',
            'echo "env=$(printf %s "$TWINE_PASSWORD" | sha256sum | cut -c1-64)"',
            'echo "npm=$(printf %s "$NPM_TOKEN" | sha256sum | cut -c1-64) $(printf %s "$NODE_AUTH_TOKEN" | sha256sum | cut -c1-64)"',
            'echo "mode=$(stat -c %a "$BOSUN_SECRETS_DIR/PYPI_TOKEN") dir=$(stat -c %a "$BOSUN_SECRETS_DIR") owner=$(stat -c %u "$BOSUN_SECRETS_DIR/PYPI_TOKEN") me=$(id -u)"',
            'echo ready',
            'sleep 60',
          ],
        }),
      );
      let seen = '';
      const output = collect(handle.output, (text) => (seen = text));
      try {
        await waitFor('the step to be ready', () => seen.includes('ready\n'), 60_000);
        const inspected = await h.inspectText(handle.ref);

        for (const value of [tricky, plain]) {
          assert.ok(!inspected.includes(value), 'a value is visible in inspect');
          assert.ok(!inspected.includes(JSON.stringify(value).slice(1, -1)), 'a value is visible (JSON-escaped) in inspect');
          assert.ok(!inspected.includes(value.split('\n')[0]!), 'part of a value is visible in inspect');
          assert.ok(!inspected.includes(Buffer.from(value).toString('base64')), 'a value is visible (base64) in inspect');
        }
        assert.match(inspected, /PYPI_TOKEN/, 'inspect names the secret (sanity: we inspected the right thing)');
      } finally {
        await handle.destroy();
      }
      const out = await output;

      assert.match(out.stdout, new RegExp(`^file=${sha256(tricky)}$`, 'm'), out.stdout + out.stderr);
      assert.match(out.stdout, new RegExp(`^env=${sha256(tricky)}$`, 'm'));
      assert.match(out.stdout, new RegExp(`^npm=${sha256(plain)} ${sha256(plain)}$`, 'm'));
      const facts = /^mode=(\d+) dir=(\d+) owner=(\d+) me=(\d+)$/m.exec(out.stdout);
      assert.ok(facts, out.stdout);
      assert.match(facts[1]!, /^[46]00$/, 'only the step user can read a secret file');
      assert.equal(facts[3], facts[4], 'the file belongs to the step user');
      assert.ok(!out.stdout.includes(tricky) && !out.stdout.includes(plain), 'the values were never printed');
      const dir = /^dir=(.+)$/m.exec(out.stdout)?.[1] ?? '';
      await waitFor('the secret resources to be gone', async () => (await h.secretResources(buildId, dir)).length === 0, 60_000);
    });

    it('a step with no secrets has no secret files and no variables', caseOptions, async () => {
      // A stage sandbox keeps an empty /run/secrets between steps; a step container has none.
      const { outcome, out } = await runStep(
        h.executor,
        spec({
          commands: ['echo "[${BOSUN_SECRETS_DIR:-none}] [${TWINE_PASSWORD:-none}]"', 'test -n "$(ls -A /run/secrets 2>/dev/null)" || echo no-run-secrets'],
        }),
      );

      assert.equal(outcome.exitCode, 0, out.stderr);
      assert.match(out.stdout, /^\[none\] \[none\]$/m);
      if (h.enforcesMemory) assert.match(out.stdout, /^no-run-secrets$/m);
    });

    it("reap after a crash removes an orphaned step's secrets with it (R22)", caseOptions, async () => {
      const orphanBuild = `${buildId}o`;
      const handle = await h.executor.start(
        spec({
          buildId: orphanBuild,
          labels: { [labelKeys.build]: orphanBuild, [labelKeys.stage]: 'test', [labelKeys.step]: 'orphan' },
          secrets: [secrets[1]!],
          commands: ['echo "dir=$BOSUN_SECRETS_DIR"', 'sleep 120'],
        }),
      );
      let seen = '';
      const output = collect(handle.output, (text) => (seen = text));
      await waitFor('the step to run', () => /^dir=.+$/m.test(seen), 60_000);
      const dir = /^dir=(.+)$/m.exec(seen)?.[1] ?? '';
      assert.ok((await h.secretResources(orphanBuild, dir)).length > 0, 'the step has secret resources while it runs');

      // As the reconciler does after a restart: nothing claims this build any more.
      await h.executor.reap((labels) => labels[labelKeys.build] !== orphanBuild);

      await waitFor("the orphan's secrets to be gone", async () => (await h.secretResources(orphanBuild, dir)).length === 0, 30_000);
      await handle.wait().catch(() => undefined);
      await handle.destroy();
      await output.catch(() => undefined);
      await h.executor.cleanupBuild(orphanBuild);
    });

    it('a step that ends by itself leaves no secret behind, and its commands read EOF on stdin', caseOptions, async () => {
      const stepBuild = `${buildId}e`;
      const { outcome, out } = await runStep(
        h.executor,
        spec({
          buildId: stepBuild,
          labels: { [labelKeys.build]: stepBuild, [labelKeys.stage]: 'test', [labelKeys.step]: 'eof' },
          secrets: [secrets[1]!],
          commands: ['echo "dir=$BOSUN_SECRETS_DIR"', 'if read -r line; then echo "stdin had data"; else echo stdin-eof; fi'],
        }),
      );

      assert.equal(outcome.exitCode, 0, out.stderr);
      assert.match(out.stdout, /^stdin-eof$/m);
      const dir = /^dir=(.+)$/m.exec(out.stdout)?.[1] ?? '';
      await waitFor('the secret resources to be gone', async () => (await h.secretResources(stepBuild, dir)).length === 0, 60_000);
      await h.executor.cleanupBuild(stepBuild);
      if (!h.enforcesMemory) assert.equal(existsSync(dir), false);
    });
  });
}
