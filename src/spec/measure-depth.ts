/**
 * How deeply collections nest in a YAML text, measured on yaml's CST without recursion.
 *
 * Why: yaml's composer recurses per nesting level. Deep input (5,000 `[`, or `- - - …`) runs
 * it out of stack, and on Node 20 a few such overflows can leave V8 unable to compile a regular
 * expression: the process dies with "RegExpCompiler Allocation failed" — a fatal error that no
 * try/catch and no worker thread contains. So nesting is checked before composing.
 */
import { LineCounter, Parser } from 'yaml';

/** Far deeper than any build spec needs (the schema itself nests about 7 levels). */
export const MAX_NESTING = 64;

interface DepthViolation {
  line: number;
  col: number;
}

interface CstNode {
  type?: string;
  offset?: number;
  value?: unknown;
  items?: { key?: unknown; value?: unknown }[];
}

/** Where the text first nests deeper than `max` collections, or undefined if it never does. */
export function findDeepNesting(text: string, max = MAX_NESTING): DepthViolation | undefined {
  const lineCounter = new LineCounter();
  const stack: { node: unknown; depth: number }[] = [];
  for (const token of new Parser(lineCounter.addNewLine).parse(text)) stack.push({ node: token, depth: 0 });
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (!node || typeof node !== 'object') continue;
    const cst = node as CstNode;
    if (cst.type === 'document') {
      stack.push({ node: cst.value, depth });
      continue;
    }
    if (!cst.items) continue;
    const inner = depth + 1;
    if (inner > max) return lineCounter.linePos(cst.offset ?? 0);
    for (const item of cst.items) {
      stack.push({ node: item.key, depth: inner }, { node: item.value, depth: inner });
    }
  }
  return undefined;
}
