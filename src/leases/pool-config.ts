import { z } from 'zod';

/** Pool and item names: lower-case words, safe as Redis key parts and env-var suffixes. */
export const PoolName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'pool names are lower-case letters, digits, - and _');
const ItemId = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/i, 'item ids are letters, digits, ., - and _');
const Attribute = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/i, 'attributes are single words')
  .transform((s) => s.toLowerCase());
/** A health check: argv run with execFile (never a shell); exit 0 means healthy. */
const HealthCheck = z.array(z.string().min(1)).min(1);

export const PoolItem = z.strictObject({
  id: ItemId,
  /** What the item is (`android`, `pixel-7`, `ios-17`); a request must name a subset. */
  attributes: z.array(Attribute).default([]),
  /** Overrides the pool's health check for this item. */
  healthCheck: HealthCheck.optional(),
});
export type PoolItem = z.infer<typeof PoolItem>;

/** One resource pool in the server config (`pools.<name>`). */
export const PoolConfig = z
  .strictObject({
    items: z.array(PoolItem).min(1),
    /** Run by the janitor after every release or expiry, with `BOSUN_LEASE_ITEM=<id>` in its env. */
    healthCheck: HealthCheck.optional(),
    healthCheckTimeoutSec: z.number().int().positive().default(120),
    defaultTtlSec: z.number().int().positive().default(3600),
    maxTtlSec: z
      .number()
      .int()
      .positive()
      .default(8 * 3600),
    /** TTL of a pipeline stage's lease; the worker renews it every third of this, so a dead worker loses it this fast. */
    pipelineTtlSec: z.number().int().positive().default(60),
    /** How long before expiry the holder gets the Extend / Release reminder. */
    reminderLeadSec: z.number().int().nonnegative().default(600),
    /** Group (from `groups`) whose members may renew or release anyone's lease in this pool. */
    admins: z.string().optional(),
  })
  .superRefine((p, ctx) => {
    // A lead as long as the default term would remind people the moment they get an item.
    if (p.reminderLeadSec >= p.defaultTtlSec) {
      ctx.addIssue({
        code: 'custom',
        path: ['reminderLeadSec'],
        message: `the reminder lead (${p.reminderLeadSec} s) must be shorter than the default lease term defaultTtlSec (${p.defaultTtlSec} s)`,
      });
    }
  });
export type PoolConfig = z.infer<typeof PoolConfig>;

export const Pools = z.record(PoolName, PoolConfig);
export type Pools = z.infer<typeof Pools>;

/** The health check that applies to an item, if any. */
export function healthCheckFor(pool: PoolConfig, item: PoolItem): string[] | undefined {
  return item.healthCheck ?? pool.healthCheck;
}
