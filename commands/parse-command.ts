/**
 * Splits a command line into words: whitespace-separated, with "double quotes" for a word
 * containing spaces. No expansion of any kind happens here or later: words are data.
 * A leading `/ci`, `ci` or bot mention is dropped by the front end, not here.
 */
export function parseCommandLine(text: string): { name: string; args: string[] } {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of text.trim().matchAll(re)) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  const [name = '', ...args] = words;
  return { name: name.toLowerCase(), args };
}

/** Parses `#42` or `42` as a build id, or null. */
export function parseBuildId(word: string | undefined): string | null {
  if (!word) return null;
  const m = /^#?(\d{1,12})$/.exec(word);
  return m?.[1] ?? null;
}

/** Edit distance, for "did you mean". */
export function distance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + cost);
    }
  }
  return dp[a.length]![b.length]!;
}
