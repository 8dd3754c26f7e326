import { shortSha } from '../domain/build.js';
import { ranFor } from '../domain/human-time.js';
import type { RunStatus } from '../domain/status.js';
import type { ApprovalFacts } from './approval-facts.js';

/** Commit titles listed on a card; the rest are counted ("and N more"). */
export const listedFactCommits = 5;
/** Authors named on a card; the rest are counted. */
const listedAuthors = 8;

/**
 * An approval card's facts as plain, unescaped text pieces for any surface (Zulip markdown,
 * the web console's HTML): each renderer escapes them for its medium. Slack renders its own
 * (src/chat/slack/render-build.ts) with Block Kit mrkdwn.
 */
export interface DescribedFacts {
  /** `3 commits since what runs in production (deploy #3) by Alice, Bob`, or why it is unknown. */
  range?: string;
  compareUrl?: string;
  /** The newest commits: short sha, title, author. */
  commits: { sha: string; title: string; author: string }[];
  /** `and 4 more` when the range holds more than the listed commits. */
  more?: string;
  /** `Gates (build #4)` and one entry per gating stage. */
  gatesOf?: string;
  gates: { status: RunStatus; text: string }[];
}

export function describeApprovalFacts(facts: ApprovalFacts): DescribedFacts {
  const since = facts.since ?? '';
  const r = facts.range;
  const out: DescribedFacts = { commits: [], gates: [] };
  if (!r) {
    if (since) out.range = `Commits since ${since}: not known (the mirror could not say)`;
  } else if (r.total === 0) {
    out.range = `No new commits since ${since || 'the last one'}`;
  } else {
    const authors = [...new Set(r.commits.map((c) => c.author.slice(0, 60)))];
    const named = authors.slice(0, listedAuthors).join(', ') + (authors.length > listedAuthors ? ` and ${authors.length - listedAuthors} more` : '');
    const readNote = r.total > r.commits.length ? ` (authors of the newest ${r.commits.length})` : '';
    out.range = `${r.total} commit${r.total === 1 ? '' : 's'} since ${since || shortSha(r.base)} by ${named}${readNote}`;
    if (r.compareUrl) out.compareUrl = r.compareUrl;
    out.commits = r.commits.slice(0, listedFactCommits).map((c) => ({ sha: shortSha(c.sha), title: c.title.slice(0, 200), author: c.author.slice(0, 60) }));
    if (r.total > out.commits.length) out.more = `and ${r.total - out.commits.length} more`;
  }
  if (facts.gates.length) out.gatesOf = `Gates${facts.gatesOf ? ` (build #${facts.gatesOf})` : ''}`;
  out.gates = facts.gates.map((s) => {
    const bad = s.tests ? s.tests.failed + s.tests.errors : 0;
    const tests = s.tests ? (bad > 0 ? `, ${bad} failing test${bad === 1 ? '' : 's'} of ${s.tests.total}` : `, ${s.tests.total} tests passed`) : '';
    // The checkpoint's own stage waits once its steps passed: show how they went.
    const waiting = s.status === 'waiting' && s.steps.every((st) => st.status === 'success' || st.status === 'skipped');
    const lastEnd = s.steps
      .map((st) => st.finishedAt ?? '')
      .sort()
      .pop();
    const ran = waiting ? ranFor({ ...(s.startedAt ? { startedAt: s.startedAt } : {}), ...(lastEnd ? { finishedAt: lastEnd } : {}) }) : ranFor(s);
    return { status: waiting ? 'success' : s.status, text: `${s.name} ${waiting ? 'steps passed' : s.status}${ran ? ` ${ran}` : ''}${tests}` };
  });
  return out;
}
