/**
 * Preloaded (`node --import`) into the `bosun worker` process the bench starts, and nothing
 * else: it watches that process's event-loop delay (`monitorEventLoopDelay`, 10 ms resolution)
 * and, on each SIGUSR2, writes what it saw since the previous signal to
 * `BOSUN_BENCH_LOOP_FILE` as JSON `{ seq, p50, p99, max, n }` (ms) and starts over. Bosun's
 * own code does not know about it.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface LoopReading {
  seq: number;
  p50: number;
  p99: number;
  max: number;
  n: number;
}

const file = process.env.BOSUN_BENCH_LOOP_FILE;
if (file) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let seq = 0;
  process.on('SIGUSR2', () => {
    seq += 1;
    const reading: LoopReading = { seq, p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6, n: delay.count };
    // Written aside and renamed, so the bench never reads half a file.
    writeFileSync(`${file}.tmp`, JSON.stringify(reading));
    renameSync(`${file}.tmp`, file);
    delay.reset();
  });
}
