import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * True when a Docker engine answers. In CI (CI=true) a missing engine is a failure, never a
 * skip: the Docker tests must run there. Elsewhere the test is skipped with a reason.
 */
export async function requireDocker(t?: { skip(msg: string): void }): Promise<boolean> {
  const ok = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 20_000 }).then(
    () => true,
    () => false,
  );
  if (ok) return true;
  if (process.env.CI) throw new Error('Docker is required in CI (scripts/docker-up.sh should have started it)');
  t?.skip('no Docker engine here');
  return false;
}
