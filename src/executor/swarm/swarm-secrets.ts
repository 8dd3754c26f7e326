import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { labelKeys, type StepSecret } from '../executor.js';
import { ignoreNotFound, statusCode } from '../container/docker-errors.js';
import { stepUser } from '../container/isolation.js';

/** One Docker secret made for a step, as the service references it. */
export interface StepSecretRef {
  SecretID: string;
  SecretName: string;
  File: { Name: string; UID: string; GID: string; Mode: number };
}

interface SecretListEntry {
  ID: string;
  Spec?: { Name?: string; Labels?: Record<string, string> };
}

/** Labels on a secret marking it as a step's (beside the step's own labels). */
const secretRoleLabel = { 'bosun.role': 'secret' } as const;

/**
 * A swarm step's secrets as Docker secrets (R14): created per step run (`bosun-<random>`,
 * labelled with the step's labels and `bosun.role=secret`), attached to the step's service as
 * files `/run/secrets/<NAME>` (a tmpfs Docker mounts; owner the step user, mode 0400), and
 * removed once the service is gone. Swarm keeps the values encrypted in its Raft log and sends
 * them only to the node running the task; `docker service inspect` and `docker secret inspect`
 * show names and IDs, never values. Leftovers after a crash are found by label (`reap`).
 */
export class SwarmSecrets {
  constructor(private readonly docker: Docker) {}

  /** Creates one Docker secret per step secret; on failure removes what it made and throws. */
  async create(secrets: readonly StepSecret[], labels: Record<string, string>): Promise<StepSecretRef[]> {
    const [uid, gid] = stepUser.split(':') as [string, string];
    const made: StepSecretRef[] = [];
    try {
      for (const secret of secrets) {
        const name = `bosun-${randomBytes(10).toString('hex')}`;
        const created = (await this.docker.createSecret({
          Name: name,
          Labels: { ...labels, ...secretRoleLabel, 'bosun.secret': secret.name },
          Data: Buffer.from(secret.value, 'utf8').toString('base64'),
        })) as { id?: string; ID?: string };
        const id = created.id ?? created.ID ?? '';
        made.push({ SecretID: id, SecretName: name, File: { Name: secret.name, UID: uid, GID: gid, Mode: 0o400 } });
      }
      return made;
    } catch (err) {
      await this.remove(made.map((m) => m.SecretID));
      throw err;
    }
  }

  /**
   * Removes secrets by ID (404 is success). A secret still referenced by a service that is being
   * removed is refused for a moment (400/409 "in use"): retried for up to ~5 s, then left to `reap`.
   */
  async remove(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      for (let attempt = 0; ; attempt += 1) {
        try {
          await ignoreNotFound(() => this.docker.getSecret(id).remove());
          break;
        } catch (err) {
          const code = statusCode(err);
          if ((code !== 400 && code !== 409) || attempt >= 25) throw err;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }
  }

  /** Removes the step secrets of `instanceId` whose labels `keep` rejects; one still in use is left for next time. Returns their names. */
  async reap(instanceId: string, keep: (labels: Record<string, string>) => boolean): Promise<string[]> {
    const filters = JSON.stringify({ label: [`${labelKeys.managed}=true`, `${labelKeys.instance}=${instanceId}`, 'bosun.role=secret'] });
    const list = (await this.docker.listSecrets({ filters })) as unknown as SecretListEntry[];
    const removed: string[] = [];
    for (const entry of list) {
      if (keep(entry.Spec?.Labels ?? {})) continue;
      try {
        await this.remove([entry.ID]);
        removed.push(entry.Spec?.Name ?? entry.ID);
      } catch {
        // Still in use by a service that is going away: the next reap gets it.
      }
    }
    return removed;
  }
}
