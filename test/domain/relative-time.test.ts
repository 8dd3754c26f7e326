import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relativeTime } from '../../src/domain/human-time.js';

// Pages show times relative to now, with the absolute time as a tooltip (`when` in the web pages).
const now = Date.parse('2026-12-06T12:00:00.000Z');
const cases: Array<[string, string | undefined, string]> = [
  ['nothing for no time', undefined, ''],
  ['an unparsable time comes back as it is', 'soon', 'soon'],
  ['under 5 s is just now', '2026-12-06T11:59:57.000Z', 'just now'],
  ['seconds ago', '2026-12-06T11:59:18.000Z', '42s ago'],
  ['minutes ago', '2026-12-06T11:55:00.000Z', '5 min ago'],
  ['hours ago', '2026-12-06T09:00:00.000Z', '3 h ago'],
  ['a deadline ahead', '2026-12-06T12:20:00.000Z', 'in 20 min'],
  ['over a day ago is the absolute time', '2026-12-04T08:05:00.000Z', '4 Dec 08:05 UTC'],
  ['over a day ahead is the absolute time', '2026-12-08T08:05:00.000Z', '8 Dec 08:05 UTC'],
];
for (const [name, iso, expected] of cases) {
  test(`relative time: ${name}`, () => assert.equal(relativeTime(iso, now), expected));
}
