/**
 * A process-wide spacing limiter: `take()` resolves at most `perMinute` times a minute,
 * in call order. Shared by every build's live-log edits, since Slack's limits are per app
 * and workspace, not per build.
 */
export class RateLimiter {
  private next = 0;
  private readonly spacingMs: number;
  constructor(perMinute: number) {
    this.spacingMs = 60_000 / perMinute;
  }

  async take(): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.next);
    this.next = slot + this.spacingMs;
    if (slot > now) await new Promise((r) => setTimeout(r, slot - now));
  }
}
