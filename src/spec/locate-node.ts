import { isAlias, isCollection, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';

export interface Position {
  line: number;
  col: number;
}

export type Target =
  /** The value at the path (or its key, when that reads better). */
  | 'value'
  /** The key of the last path segment (for unknown or badly named keys). */
  | 'key';

/**
 * Maps a path in the parsed data back to a line and column in the YAML source.
 * When the path does not exist (a missing key), it points at the deepest part that does,
 * so the person lands on the map that is missing something.
 */
export function locate(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[], target: Target = 'value'): Position {
  let node: unknown = doc.contents;
  let pair: Pair | undefined;
  let lastOffset = rangeStart(node) ?? 0;
  for (const seg of path) {
    const step = child(node, seg);
    if (!step) break;
    node = step.node;
    pair = step.pair;
    const start = preferredStart(node, pair, target);
    if (start !== undefined) lastOffset = start;
    // Aliased content lives elsewhere; the alias itself is the place to point at.
    if (isAlias(node)) break;
  }
  return lineCounter.linePos(lastOffset);
}

function child(node: unknown, seg: PropertyKey): { node: unknown; pair?: Pair } | undefined {
  if (isMap(node)) {
    const pair = node.items.find((p) => keyText(p.key) === String(seg));
    return pair ? { node: pair.value, pair } : undefined;
  }
  if (isSeq(node) && typeof seg === 'number') {
    const item: unknown = node.items[seg];
    return item === undefined ? undefined : { node: item };
  }
  return undefined;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

// Keys point at collections and empty values (their own start is unhelpful: the next line,
// or nowhere); scalars point at themselves.
function preferredStart(node: unknown, pair: Pair | undefined, target: Target): number | undefined {
  const keyStart = pair ? rangeStart(pair.key) : undefined;
  if (target === 'key' && keyStart !== undefined) return keyStart;
  const isEmpty = node === null || node === undefined || (isScalar(node) && node.value === null);
  if ((isEmpty || isCollection(node)) && keyStart !== undefined) return keyStart;
  return rangeStart(node) ?? keyStart;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}
