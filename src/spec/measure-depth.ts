/**
 * How deeply collections nest in a YAML text, measured on yaml's CST without recursion.
 *
 * Why: yaml's composer recurses per nesting level. Deep input (5,000 `[`, or `- - - …`) runs
 * it out of stack, and on Node 20 a few such overflows can leave V8 unable to compile a regular
 * expression: the process dies with "RegExpCompiler Allocation failed" — a fatal error that no
 * try/catch and no worker thread contains. So nesting is checked before composing.
 */
import { Lexer, LineCounter, Parser } from 'yaml';

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
  // Even yaml's CST costs memory per level: 120,000 `- ` (240 KiB) outgrow a parse worker's
  // heap before the CST can be measured. A token scan finds such a bomb, and where, first.
  const early = scanNesting(text, max);
  if (early) return early;
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

/**
 * A token-level estimate of nesting, in constant memory per level: flow brackets count
 * exactly; a block collection counts when an indicator (`-`, `?`, or a key's `:`) sits deeper
 * than the one that holds it. It may count less than the real depth (a sequence written at its
 * key's indentation is not seen as a level), never more for well-formed YAML, so it refuses only what the exact
 * CST measure above would also refuse.
 */
function scanNesting(text: string, max = MAX_NESTING): DepthViolation | undefined {
  const blocks: number[] = [];
  let flow = 0;
  let offset = 0;
  let lineStart = 0;
  let line = 1;
  let lineStartsContent = true;
  let contentCol = 0;
  const at = (col: number): DepthViolation => ({ line, col: col + 1 });
  const enterBlock = (col: number): DepthViolation | undefined => {
    while (blocks.length > 0 && blocks[blocks.length - 1]! > col) blocks.pop();
    if (blocks[blocks.length - 1] === col) return undefined;
    blocks.push(col);
    return blocks.length > max ? at(col) : undefined;
  };
  for (const token of new Lexer().lex(text)) {
    // Lexer control tokens (document, scalar and flow-error markers) stand for no source text.
    if (token.length === 1 && token.charCodeAt(0) < 0x20 && token !== '\n' && token !== '\t') continue;
    const col = offset - lineStart;
    let found: DepthViolation | undefined;
    if (token === '---') blocks.length = 0;
    else if (token === '[' || token === '{') {
      flow++;
      if (blocks.length + flow > max) found = at(col);
    } else if (token === ']' || token === '}') flow = Math.max(0, flow - 1);
    else if (flow === 0 && (token === '-' || token === '?')) {
      found = enterBlock(col);
      lineStartsContent = true;
    } else if (flow === 0 && token === ':') {
      found = enterBlock(contentCol);
      lineStartsContent = true;
    } else if (lineStartsContent && !/^[ \t]*$/.test(token) && !token.startsWith('#') && token !== '\n' && token !== '\r\n') {
      contentCol = col;
      lineStartsContent = false;
    }
    if (found) return found;
    offset += token.length;
    const newline = token.lastIndexOf('\n');
    if (newline >= 0) {
      lineStart = offset - token.length + newline + 1;
      for (const ch of token) if (ch === '\n') line++;
      lineStartsContent = true;
    }
  }
  return undefined;
}
