import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const require = createRequire(import.meta.url);
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** OpenAPI 3.0's `nullable` as JSON Schema: `type: [t, 'null']`, or `anyOf` with null when there is no type. */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string') out[k] = v.replace(/^#\/components\//, 'gh#/components/');
    else if (k === 'example' || k === 'examples' || k.startsWith('x-')) continue;
    else out[k] = toJsonSchema(v);
  }
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === 'string') {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    } else {
      return { anyOf: [out, { type: 'null' }] };
    }
  }
  delete out.nullable;
  return out;
}

export interface OpenApiOperation {
  method: string;
  template: string;
  pattern: RegExp;
  responses: Record<string, unknown>;
}

/**
 * GitHub's REST API description (`@octokit/openapi`, api.github.com), loaded once: the
 * operations by method and path, and a validator per response (status, JSON body).
 */
export class GithubOpenApi {
  readonly operations: OpenApiOperation[] = [];
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly doc: { paths: Record<string, Record<string, { responses: Record<string, any> }>>; components: Record<string, any> };

  constructor() {
    const file = require.resolve('@octokit/openapi/generated/api.github.com.json');
    this.doc = JSON.parse(readFileSync(file, 'utf8'));
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: 'gh', components: { schemas: toJsonSchema(this.doc.components.schemas) } });
    for (const [template, ops] of Object.entries(this.doc.paths)) {
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      for (const [method, op] of Object.entries(ops)) {
        if (!op || typeof op !== 'object' || !('responses' in op)) continue;
        this.operations.push({ method: method.toUpperCase(), template, pattern, responses: op.responses });
      }
    }
  }

  /** The documented operation for a request, or undefined when GitHub has no such route. */
  find(method: string, path: string): OpenApiOperation | undefined {
    return this.operations.find((o) => o.method === method && o.pattern.test(path));
  }

  /** The body schema GitHub documents for `status` of `op` (null: documented without a JSON body; undefined: status not documented). */
  responseValidator(op: OpenApiOperation, status: number): ValidateFunction | null | undefined {
    let response = op.responses[String(status)] as { $ref?: string; content?: Record<string, { schema?: unknown }> } | undefined;
    if (!response) return undefined;
    if (response.$ref) response = this.doc.components.responses[response.$ref.split('/').pop()!];
    const schema = response?.content?.['application/json']?.schema;
    if (!schema) return null;
    return this.ajv.compile(toJsonSchema(schema) as object);
  }

  /** A validator for a named component schema (`check-run`, `pull-request`, ...). */
  schema(name: string): ValidateFunction {
    return this.ajv.getSchema(`gh#/components/schemas/${name}`)!;
  }
}
