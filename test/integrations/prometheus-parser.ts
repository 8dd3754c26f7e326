import { spawn } from 'node:child_process';

/** One metric family as the Prometheus client's own text parser reads it. */
export interface MetricFamily {
  name: string;
  type: string;
  help: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const script = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
families = text_string_to_metric_families(sys.stdin.read())
print(json.dumps([{'name': f.name, 'type': f.type, 'help': f.documentation,
  'samples': [{'name': s.name, 'labels': s.labels, 'value': s.value if math.isfinite(s.value) else str(s.value)} for s in f.samples]}
  for f in families]))
`;

/**
 * Parses Prometheus text exposition with the official Prometheus Python client's parser
 * (`prometheus_client.parser`, Debian's python3-prometheus-client, installed by
 * scripts/install-deps.sh for the tests). It throws on any malformed line.
 */
export async function parsePrometheusText(text: string): Promise<MetricFamily[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`the Prometheus text parser refused the exposition: ${err.trim().split('\n').at(-1)}`));
      const families = JSON.parse(out) as MetricFamily[];
      for (const f of families) for (const s of f.samples) s.value = Number(String(s.value).replace(/^inf$/, 'Infinity'));
      resolve(families);
    });
    child.stdin.end(text);
  });
}
