import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * A small PyPI-compatible index for tests (no PyPI server is installable here): the legacy
 * upload API twine uses (multipart POST `:action=file_upload` to `/legacy/`) and the PEP 503
 * simple index (`/simple/`, `/simple/<name>/` with `#sha256=` links, files under `/files/`),
 * every request behind HTTP basic auth, on 127.0.0.1:<free port>. It behaves like Warehouse
 * where clients can tell: an upload whose file exists with the same sha256 is 200, with
 * another one 400 "File already exists"; a sha256_digest that does not match the content is
 * 400; a wrong or missing password is 401 (with `WWW-Authenticate`, so pip and twine ask).
 * Real clients pin it: Debian's `twine upload` and `pip install --index-url`.
 */
export interface TestPypiIndex {
  url: string;
  /** `<url>/legacy/` */
  uploadUrl: string;
  /** `<url>/simple/` */
  indexUrl: string;
  username: string;
  password: string;
  /** Every accepted upload, in order (filename, project, version, form fields). */
  uploads: { filename: string; name: string; version: string; fields: Record<string, string> }[];
  /** Uploads answered 401 (no or wrong credentials). */
  refused: number;
  stop(): Promise<void>;
}

interface StoredFile {
  filename: string;
  sha256: string;
  content: Buffer;
}

export async function startPypiIndex(opts: { username?: string; password?: string } = {}): Promise<TestPypiIndex> {
  const username = opts.username ?? 'uploader';
  const password = opts.password ?? `pypi-${process.pid}-${Date.now()}`;
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const projects = new Map<string, StoredFile[]>();
  const state: Pick<TestPypiIndex, 'uploads' | 'refused'> = { uploads: [], refused: 0 };

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => send(res, 500, String(err)));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.headers.authorization !== expected) {
      if (req.method === 'POST') state.refused += 1;
      await drain(req);
      res.setHeader('www-authenticate', 'Basic realm="bosun test index"');
      return send(res, 401, 'Invalid or non-existent authentication information.');
    }
    if (req.method === 'POST' && (path === '/legacy/' || path === '/legacy')) return upload(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
    if (path === '/simple/') {
      return send(
        res,
        200,
        page(
          'Simple index',
          [...projects.keys()].sort().map((n) => `<a href="${n}/">${n}</a>`),
        ),
        'text/html',
      );
    }
    const project = /^\/simple\/([^/]+)\/?$/.exec(path);
    if (project) {
      const name = normalize(decodeURIComponent(project[1] as string));
      if (!path.endsWith('/') || name !== project[1]) return redirect(res, `/simple/${name}/`);
      const files = projects.get(name);
      if (!files) return send(res, 404, 'not found');
      return send(
        res,
        200,
        page(
          `Links for ${name}`,
          files.map((f) => `<a href="../../files/${f.filename}#sha256=${f.sha256}">${f.filename}</a>`),
        ),
        'text/html',
      );
    }
    const file = /^\/files\/([^/]+)$/.exec(path);
    if (file) {
      const found = [...projects.values()].flat().find((f) => f.filename === decodeURIComponent(file[1] as string));
      if (!found) return send(res, 404, 'not found');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': found.content.length });
      res.end(found.content);
      return;
    }
    send(res, 404, 'not found');
  }

  async function upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await drain(req);
    let form: FormData;
    try {
      form = await new Request('http://index/legacy/', { method: 'POST', headers: { 'content-type': String(req.headers['content-type']) }, body }).formData();
    } catch {
      return send(res, 400, 'expected multipart/form-data');
    }
    const fields: Record<string, string> = {};
    for (const [key, value] of form.entries()) if (typeof value === 'string') fields[key] = value;
    const content = form.get('content');
    if (fields[':action'] !== 'file_upload') return send(res, 400, 'Invalid value for :action');
    for (const key of ['name', 'version', 'filetype', 'metadata_version']) if (!fields[key]) return send(res, 400, `Invalid value for ${key}: missing`);
    if (!content || typeof content === 'string') return send(res, 400, 'Upload payload does not have a file.');
    const bytes = Buffer.from(await content.arrayBuffer());
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (fields.sha256_digest && fields.sha256_digest !== sha256)
      return send(res, 400, 'The digest supplied does not match a digest calculated from the uploaded file.');
    const filename = content.name;
    const name = normalize(fields.name as string);
    if (!normalize(filename).startsWith(`${name.replaceAll('-', '_')}-`) && !normalize(filename).startsWith(`${name}-`)) {
      return send(res, 400, `Start filename for '${name}' with '${name.replaceAll('-', '_')}'.`);
    }
    const files = projects.get(name) ?? [];
    const existing = files.find((f) => f.filename === filename);
    if (existing)
      return existing.sha256 === sha256
        ? send(res, 200, 'OK')
        : send(res, 400, 'File already exists. See https://pypi.org/help/#file-name-reuse for more information.');
    files.push({ filename, sha256, content: bytes });
    projects.set(name, files);
    state.uploads.push({ filename, name, version: fields.version as string, fields });
    send(res, 200, 'OK');
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  return Object.assign(state, {
    url,
    uploadUrl: `${url}/legacy/`,
    indexUrl: `${url}/simple/`,
    username,
    password,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

function normalize(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

function page(title: string, links: string[]): string {
  return `<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0"><title>${title}</title></head><body>\n${links.join('<br>\n')}\n</body></html>\n`;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8` });
  res.end(body);
}

function redirect(res: ServerResponse, to: string): void {
  res.writeHead(301, { location: to });
  res.end();
}

function drain(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 64 * 1024 * 1024) req.destroy(new Error('too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
