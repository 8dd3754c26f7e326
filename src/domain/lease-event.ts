import type { Actor } from './build.js';

/**
 * Lease events on the durable event stream (published with `bus.publish`, no build write).
 * Each carries a plain-English `text` the chat front ends can post as is (after escaping);
 * `holder` says whom to notify (DM), `buildId`/`stage` which build thread it belongs to.
 */
export type LeaseEvent =
  | {
      type: 'lease.granted';
      leaseId: string;
      pool: string;
      item: string;
      attributes: string[];
      holder: Actor;
      expiresAt: string;
      token: number;
      text: string;
      buildId?: string;
      stage?: string;
    }
  | { type: 'lease.waiting'; leaseId: string; pool: string; holder: Actor; position: number; ahead?: string; text: string; buildId?: string; stage?: string }
  | { type: 'lease.renewed'; leaseId: string; pool: string; item: string; holder: Actor; expiresAt: string; text: string; buildId?: string }
  | { type: 'lease.released'; leaseId: string; pool: string; item: string; reason: string; holder?: Actor; text: string; buildId?: string; stage?: string }
  | {
      type: 'lease.reminder';
      leaseId: string;
      pool: string;
      item: string;
      holder: Actor;
      expiresAt: string;
      /** What the buttons do: `renew <lease>` and `release <lease>`. */
      actions: { extend: string; release: string };
      text: string;
      buildId?: string;
    }
  | { type: 'lease.expired'; leaseId: string; pool: string; item: string; holder: Actor; text: string; buildId?: string; stage?: string }
  | { type: 'lease.item'; pool: string; item: string; state: 'free' | 'broken'; text: string };
