import { UserError } from '../errors.js';

/** Buildkite's `RedactLengthMin`: shorter values would mask ordinary words and leak by their absence. */
export const minSecretLength = 6;

/**
 * Expands one secret into every form the redactor hides (R13).
 *
 * Covered:
 * - raw value;
 * - standalone base64, std (`+/`, padded) and url-safe (`-_`, unpadded and padded);
 * - embedded base64: when the secret sits at byte offset 0, 1 or 2 (mod 3) inside a larger
 *   blob (`user:secret` in a Basic auth header, a secret inside base64'd JSON), only the
 *   characters fully determined by the secret's own bits are stable. For each offset we keep
 *   exactly those, in std and url-safe alphabets. Bits shared with neighbouring bytes (at most
 *   one char on each side) stay visible: they leak at most 4 bits of the secret each;
 * - URL-encoded (`encodeURIComponent`, plus the form encoding with `+` for spaces);
 * - JSON-escaped (`JSON.stringify` without the quotes), plus the two other common encoder
 *   habits: non-ASCII as `\uXXXX` (Python's `json.dumps` default) and `/` as `\/` (PHP);
 * - multi-line values: each line of at least `minSecretLength` characters on its own, as
 *   Woodpecker does, so CRLF translation or a log prefix per line cannot defeat the match.
 *
 * Not covered (documented limits): double (or deeper) base64 as in tj-actions CVE-2025-30066,
 * base64 wrapped at 76 columns, hex, lowercase percent-encoding, any other derived value.
 * R14 (never hand secrets to untrusted steps) is the control for those.
 */
export function secretVariants(name: string, value: string): string[] {
  if ([...value].length < minSecretLength) {
    throw new UserError('bad_request', `secret ${name} is shorter than ${minSecretLength} characters`);
  }

  const variants = new Set<string>([value]);
  const bytes = Buffer.from(value, 'utf8');
  for (const form of base64Forms(bytes)) variants.add(form);
  for (const form of urlEncodedForms(value)) variants.add(form);
  for (const form of jsonEscapedForms(value)) variants.add(form);
  for (const line of value.split(/\r?\n|\r/)) {
    if ([...line].length >= minSecretLength) variants.add(line);
  }

  return [...variants].filter((variant) => variant.length >= minSecretLength);
}

function base64Forms(bytes: Buffer): string[] {
  const standalone = bytes.toString('base64');
  const forms = [standalone, toUrlSafe(standalone), toUrlSafe(standalone).replace(/=+$/, '')];
  for (let offset = 0; offset < 3; offset++) {
    const embedded = embeddedBase64(bytes, offset);
    forms.push(embedded, toUrlSafe(embedded));
  }
  return forms;
}

/**
 * The base64 characters that depend only on `bytes` when they start at `offset` (mod 3)
 * inside a longer stream. Char i covers bits [6i, 6i+6); the secret covers
 * [8·offset, 8·(offset+n)); keep the chars fully inside.
 */
function embeddedBase64(bytes: Buffer, offset: number): string {
  const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
  const first = Math.ceil((8 * offset) / 6);
  const end = Math.floor((8 * (offset + bytes.length)) / 6);
  return encoded.slice(first, end);
}

function toUrlSafe(base64: string): string {
  return base64.replaceAll('+', '-').replaceAll('/', '_');
}

function jsonEscapedForms(value: string): string[] {
  const json = JSON.stringify(value).slice(1, -1);
  const asciiOnly = json.replace(/[\u0080-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return [json, asciiOnly, json.replaceAll('/', '\\/')];
}

function urlEncodedForms(value: string): string[] {
  try {
    const encoded = encodeURIComponent(value);
    return [encoded, encoded.replaceAll('%20', '+')];
  } catch {
    // Lone surrogates cannot be URL-encoded, so they cannot appear URL-encoded in a log either.
    return [];
  }
}
