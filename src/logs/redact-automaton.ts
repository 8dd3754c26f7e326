/**
 * Aho–Corasick over UTF-16 code units: one pass over the text finds every occurrence of every
 * pattern, O(text + matches) whatever the number of patterns. A naive scan per pattern is
 * O(text · patterns), which with 20 secrets × ~12 variants each is ~240 passes per chunk.
 *
 * Code units that occur in no pattern share class 0, so the dense transition table has
 * (nodes × distinct pattern chars) entries. When that would be too big (hundreds of long
 * secrets) we fall back to sparse children plus failure links: slower per char, same O().
 */
export interface ScanState {
  /** Automaton node: the longest suffix of the text scanned so far that is a pattern prefix. */
  node: number;
}

/** Largest dense table we build, in entries (4 bytes each): 16 MiB. */
const denseBudget = 1 << 22;

export class Automaton {
  /** Length of the longest pattern; the streaming hold-back never exceeds this minus one. */
  readonly maxLength: number;
  readonly isEmpty: boolean;
  private readonly depths: Int32Array;
  /** Longest pattern ending at this node (itself or via its failure chain), 0 if none. */
  private readonly outLengths: Int32Array;
  private readonly fail: Int32Array;
  private readonly children: Map<number, number>[];
  private readonly classOf: Uint16Array;
  private readonly classCount: number;
  private readonly dense: Int32Array | null;

  constructor(patterns: readonly string[]) {
    const children: Map<number, number>[] = [new Map()];
    const depthList = [0];
    const ownLength = [0];
    const classOf = new Uint16Array(0x10000);
    let classCount = 1;
    let maxLength = 0;

    for (const pattern of patterns) {
      if (pattern.length === 0) continue;
      maxLength = Math.max(maxLength, pattern.length);
      let node = 0;
      for (let i = 0; i < pattern.length; i++) {
        const code = pattern.charCodeAt(i);
        if (classOf[code] === 0) classOf[code] = classCount++;
        const kids = children[node]!;
        let next = kids.get(code);
        if (next === undefined) {
          next = children.length;
          children.push(new Map());
          depthList.push(i + 1);
          ownLength.push(0);
          kids.set(code, next);
        }
        node = next;
      }
      ownLength[node] = pattern.length;
    }

    const size = children.length;
    const fail = new Int32Array(size);
    const outLengths = new Int32Array(size);
    // Breadth-first, so a node's failure target (shallower) is finished before the node.
    const order: number[] = [0];
    for (let head = 0; head < order.length; head++) {
      const node = order[head]!;
      for (const [code, child] of children[node]!) {
        order.push(child);
        fail[child] = node === 0 ? 0 : Automaton.follow(children, fail, fail[node]!, code);
        outLengths[child] = ownLength[child]! > 0 ? ownLength[child]! : outLengths[fail[child]!]!;
      }
    }

    this.maxLength = maxLength;
    this.isEmpty = maxLength === 0;
    this.depths = Int32Array.from(depthList);
    this.outLengths = outLengths;
    this.fail = fail;
    this.children = children;
    this.classOf = classOf;
    this.classCount = classCount;
    this.dense = size * classCount <= denseBudget ? this.buildDense(order) : null;
  }

  /** Depth of a node = how many trailing chars might still become a match. */
  depth(state: ScanState): number {
    return this.depths[state.node]!;
  }

  /**
   * Advances `state` over text[from..] and reports each match as (end, length), end exclusive,
   * in order of end. Only the longest match ending at each position is reported: shorter ones
   * ending there are suffixes of it, so masking the longest covers them.
   */
  scan(text: string, from: number, state: ScanState, onMatch: (end: number, length: number) => void): void {
    const { classOf, outLengths } = this;
    let node = state.node;
    if (this.dense) {
      const dense = this.dense;
      const width = this.classCount;
      for (let i = from; i < text.length; i++) {
        node = dense[node * width + classOf[text.charCodeAt(i)]!]!;
        const length = outLengths[node]!;
        if (length > 0) onMatch(i + 1, length);
      }
    } else {
      for (let i = from; i < text.length; i++) {
        node = Automaton.follow(this.children, this.fail, node, text.charCodeAt(i));
        const length = outLengths[node]!;
        if (length > 0) onMatch(i + 1, length);
      }
    }
    state.node = node;
  }

  private static follow(children: Map<number, number>[], fail: Int32Array, from: number, code: number): number {
    let node = from;
    for (;;) {
      const next = children[node]!.get(code);
      if (next !== undefined) return next;
      if (node === 0) return 0;
      node = fail[node]!;
    }
  }

  private buildDense(order: readonly number[]): Int32Array {
    const width = this.classCount;
    const dense = new Int32Array(this.children.length * width);
    const codeOfClass = new Int32Array(width);
    for (let code = 0; code < this.classOf.length; code++) {
      const cls = this.classOf[code]!;
      if (cls !== 0) codeOfClass[cls] = code;
    }
    // Row of a node = its children, else its failure node's row (already filled: BFS order).
    for (const node of order) {
      const row = node * width;
      const failRow = this.fail[node]! * width;
      for (let cls = 1; cls < width; cls++) {
        const child = this.children[node]!.get(codeOfClass[cls]!);
        dense[row + cls] = child ?? (node === 0 ? 0 : dense[failRow + cls]!);
      }
    }
    return dense;
  }
}
