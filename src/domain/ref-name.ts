import { UserError } from '../errors.js';

/**
 * Validation of the names that come from chat and webhooks before they reach Git (R11, R27).
 *
 * Git itself accepts names such as `zzz";echo${IFS}"hello";#` (GitHub's script-injection doc).
 * Bosun never runs a shell, but refs also land in argv, chat, status text and URLs, so as
 * policy we accept a strict subset of `git check-ref-format`: printable ASCII without shell
 * metacharacters or whitespace, and no leading `-` (an argv element we did not insert could
 * read as an option: `--upload-pack=touch pwned`). Non-ASCII names are refused outright, which
 * also removes bidi overrides (U+202E) and homoglyphs from everything we echo.
 */
const maxRefLength = 200;
const maxRepoLength = 100;

/**
 * Bosun policy, on top of git's rules: these mean something to a shell or to chat markup.
 * Beyond the classic set we add `!` (history expansion) and `#` (comments, and our own
 * `repo#ref` separator).
 */
const shellMetacharacters = /[;$`"'|&<>(){}\\!#]/;
/** git check-ref-format rules 4 and 5: `~ ^ :` and `? * [`. */
const gitForbidden = /[~^:?*[]/;

interface RefRule {
  broken: (ref: string) => boolean;
  rule: string;
}

// Order matters only for the message: the first rule broken is the one we name.
const refRules: readonly RefRule[] = [
  { broken: (ref) => ref.length === 0, rule: 'must not be empty' },
  { broken: (ref) => ref.length > maxRefLength, rule: `must be at most ${maxRefLength} characters` },
  { broken: (ref) => /[\p{Cc}\p{Cf}]/u.test(ref), rule: 'must not contain control or invisible formatting characters' },
  { broken: (ref) => /\s/u.test(ref), rule: 'must not contain whitespace' },
  { broken: (ref) => /[^\x20-\x7e]/.test(ref), rule: 'must be printable ASCII' },
  { broken: (ref) => shellMetacharacters.test(ref), rule: 'must not contain shell metacharacters ;$`"\'|&<>(){}\\!#' },
  { broken: (ref) => gitForbidden.test(ref), rule: 'must not contain ~ ^ : ? * [' },
  { broken: (ref) => ref.startsWith('-'), rule: 'must not start with -' },
  { broken: (ref) => ref === '@', rule: 'must not be @ alone' },
  { broken: (ref) => ref.includes('@{'), rule: 'must not contain @{' },
  { broken: (ref) => ref.includes('..'), rule: 'must not contain ..' },
  { broken: (ref) => ref.startsWith('/') || ref.endsWith('/') || ref.includes('//'), rule: 'must not start or end with / or contain //' },
  { broken: (ref) => ref.split('/').some((c) => c.startsWith('.')), rule: 'no path component may start with .' },
  { broken: (ref) => ref.split('/').some((c) => c.endsWith('.lock')), rule: 'no path component may end with .lock' },
  { broken: (ref) => ref.endsWith('.'), rule: 'must not end with .' },
];

/** The characters a name that passed `validateRefName` can contain. */
export const safeRefCharacters = /^[A-Za-z0-9._/+=,@%\]-]*$/;

/** git check-ref-format rules for a branch/tag short name, plus Bosun's: no leading '-', ≤ 200 chars, printable ASCII-safe: reject control chars and bidi/format Unicode (U+202E etc., any \p{Cf}), no whitespace. Returns the name or throws UserError('bad_request', message naming the rule broken — include the offending input escaped/quoted safely). */
export function validateRefName(ref: string): string {
  for (const { broken, rule } of refRules) {
    if (broken(ref)) throw new UserError('bad_request', `invalid ref ${quoteUntrusted(ref)}: ${rule}`);
  }
  return ref;
}

/** owner/name or a bare config key: [A-Za-z0-9._-], no leading '-', no '..' , ≤ 100 chars */
export function validateRepoName(repo: string): string {
  const parts = repo.split('/');
  if (repo.length === 0) throw invalidRepo(repo, 'must not be empty');
  if (repo.length > maxRepoLength) throw invalidRepo(repo, `must be at most ${maxRepoLength} characters`);
  if (!/^[A-Za-z0-9._/-]+$/.test(repo)) throw invalidRepo(repo, 'may only contain letters, digits, . _ - and one /');
  if (parts.length > 2) throw invalidRepo(repo, 'must be owner/name or a bare name');
  if (parts.some((part) => part.length === 0)) throw invalidRepo(repo, 'must not have an empty owner or name');
  if (parts.some((part) => part.startsWith('-'))) throw invalidRepo(repo, 'must not start with -');
  if (repo.includes('..')) throw invalidRepo(repo, 'must not contain ..');
  if (parts.includes('.')) throw invalidRepo(repo, 'must not be .');
  return repo;
}

function invalidRepo(repo: string, rule: string): UserError {
  return new UserError('bad_request', `invalid repo ${quoteUntrusted(repo)}: ${rule}`);
}

export interface Target {
  repo: string;
  ref: string | null;
  pr: number | null;
}

export interface ParseTargetOptions {
  /** Read `owner/repo#123` as pull request 123 (default). When false, `123` is a branch name. */
  allowPr?: boolean;
}

/** Parse `/ci build owner/repo#ref` style targets: "repo#ref", "owner/repo#ref", "repo" (ref defaults to null), and "owner/repo#123" for PR numbers when allowPr. Unescape Slack's &amp; &lt; &gt; first, then reject any remaining <…> form (Slack links like <http://evil|main>). */
export function parseTarget(text: string, options: ParseTargetOptions = {}): Target {
  const allowPr = options.allowPr ?? true;
  const target = unescapeSlack(text.trim());
  // Slack turns URLs, mentions and channels into <…>; a ref that arrives that way was rewritten.
  if (target.includes('<') || target.includes('>')) {
    throw new UserError('bad_request', `invalid target ${quoteUntrusted(target)}: links and mentions (<…>) are not accepted; type the plain repo#ref`);
  }
  const hash = target.indexOf('#');
  if (hash === -1) return { repo: validateRepoName(target), ref: null, pr: null };

  const repo = validateRepoName(target.slice(0, hash));
  const rest = target.slice(hash + 1);
  if (allowPr && /^[0-9]+$/.test(rest)) return { repo, ref: null, pr: parsePrNumber(rest) };
  return { repo, ref: validateRefName(rest), pr: null };
}

/** 40-hex sha check. Either case: GitHub sends lowercase, people paste uppercase. */
export function isSha(s: string): boolean {
  return /^[0-9a-fA-F]{40}$/.test(s);
}

function parsePrNumber(digits: string): number {
  const pr = Number(digits);
  if (digits.startsWith('0') || !Number.isSafeInteger(pr) || pr > 2_147_483_647) {
    throw new UserError('bad_request', `invalid pull request number ${quoteUntrusted(digits)}`);
  }
  return pr;
}

/** One pass, so `&amp;lt;` becomes the literal text `&lt;`, not `<`. */
function unescapeSlack(text: string): string {
  const entities: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>' };
  return text.replace(/&(?:amp|lt|gt);/g, (entity) => entities[entity] ?? entity);
}

/**
 * Quotes untrusted input for an error message that may be shown in chat or logs: at most 60
 * characters, and everything outside printable ASCII, plus `& < >` and backticks, as \uXXXX.
 */
export function quoteUntrusted(value: string): string {
  const limit = 60;
  const shown = value.length > limit ? `${value.slice(0, limit)}...` : value;
  return JSON.stringify(shown).replace(/[^\x20-\x7e]|[&<>`]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
