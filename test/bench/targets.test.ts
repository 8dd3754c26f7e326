import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { largestSegment, targetRows, verdict, type Target } from '../../bench/targets.js';

const base: Target = { name: 't', value: 100, unit: 'ms', cmp: 'le', bar: 1.05, reference: { value: 100, name: 'floor C' } };

describe('a bench target is judged against its bar', () => {
  const cases: Array<[string, Partial<Target>, string]> = [
    ['a relative figure at the bar passes', {}, 'PASS'],
    ['a relative figure just past the bar misses', { value: 106 }, 'MISS'],
    ['a relative figure well under the bar passes', { value: 30, bar: 0.35 }, 'PASS'],
    ['an absolute figure under the bar passes', { value: 0.02, unit: 'CPU-s', bar: 0.03, reference: undefined }, 'PASS'],
    ['an absolute figure over the bar misses', { value: 0.031, unit: 'CPU-s', bar: 0.03, reference: undefined }, 'MISS'],
    ['at least: a figure at the bar passes', { value: 85, cmp: 'ge', bar: 0.85 }, 'PASS'],
    ['at least: a figure under the bar misses', { value: 56, cmp: 'ge', bar: 0.85 }, 'MISS'],
    ['a figure that was not measured misses', { value: NaN }, 'MISS'],
    ['a reference that was not measured misses', { reference: { value: NaN, name: 'floor B' } }, 'MISS'],
    ['a zero reference misses', { reference: { value: 0, name: 'floor B' } }, 'MISS'],
    ['an unavailable target is neither', { unavailable: 'no warm pool in this build' }, 'not available'],
  ];
  for (const [name, change, want] of cases) {
    it(name, () => assert.equal(verdict({ ...base, ...change }), want));
  }
});

describe('the targets table has one row per target', () => {
  it('prints figure, bar, ratio and result, and the cause only for a MISS', () => {
    const rows = targetRows([
      { ...base, name: 'pass', value: 80, cause: 'hidden' },
      { ...base, name: 'miss', value: 120, cause: 'most of it: step 90 of 120 ms' },
    ]);
    assert.deepEqual(rows[0], ['target', 'figure', 'bar', 'ratio', 'result', 'cause of a MISS / why not available']);
    assert.deepEqual(rows[1], ['pass', '80 ms', '≤ 1.05× floor C (100 ms)', '0.80×', 'PASS', '']);
    assert.deepEqual(rows[2], ['miss', '120 ms', '≤ 1.05× floor C (100 ms)', '1.20×', 'MISS', 'most of it: step 90 of 120 ms']);
  });
  it('shows an absolute figure against its bar', () => {
    const rows = targetRows([{ name: 'cpu', value: 0.052, unit: 'CPU-s', cmp: 'le', bar: 0.03 }]);
    assert.deepEqual(rows[1], ['cpu', '0.052 CPU-s', '≤ 0.03 CPU-s', '1.73×', 'MISS', 'not measured']);
  });
  it('says "not available" with the reason instead of a verdict', () => {
    const rows = targetRows([{ ...base, name: 'pool', unavailable: 'no warm pool in this build' }]);
    assert.deepEqual(rows[1], ['pool', 'not available', '≤ 1.05× floor C (100 ms)', '', '', 'no warm pool in this build']);
  });
});

describe('the measured cause of a miss', () => {
  it('names the segment that took most of the time', () =>
    assert.equal(largestSegment({ queue: 20, 'executor step': 540, finish: 30 }, 658), 'most of it: executor step 540 of 658 ms (median)'));
  it('ignores segments that were not measured', () => assert.equal(largestSegment({ a: NaN, b: 5 }, 10), 'most of it: b 5 of 10 ms (median)'));
  it('says so when nothing was timed', () => assert.equal(largestSegment({}, 10), 'no timings'));
});
