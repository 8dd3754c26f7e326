import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small S3-compatible server for tests (no S3 server is packaged in Debian): one in-memory
 * bucket namespace, path-style addressing (`/<bucket>/<key>`), PutObject, GetObject, HeadObject,
 * DeleteObject, ListObjectsV2 (prefix, delimiter, continuation, `encoding-type=url`) and
 * CreateBucket/HeadBucket. Every request must carry a valid AWS Signature V4 `Authorization`
 * header for the configured key pair (the payload hash checked against the body unless it is
 * `UNSIGNED-PAYLOAD`); anything else is refused with S3's own error codes. Real clients (the AWS
 * CLI, `@aws-sdk/client-s3`) pin it.
 */
export interface S3TestServer {
  endpoint: string;
  /** Every request as `METHOD /path?query -> status`. */
  requests: string[];
  objects(bucket: string): Map<string, StoredObject>;
  /** Deletes a bucket and its objects (requests to it then answer NoSuchBucket). */
  dropBucket(bucket: string): void;
  /** The next `n` object PUTs answer 503 SlowDown (a transient failure). */
  failPuts(n: number): void;
  close(): Promise<void>;
}

interface StoredObject {
  body: Buffer;
  lastModified: Date;
  etag: string;
}

export async function startS3Server(opts: { accessKeyId: string; secretAccessKey: string; buckets?: string[] }): Promise<S3TestServer> {
  const buckets = new Map<string, Map<string, StoredObject>>((opts.buckets ?? []).map((b) => [b, new Map()]));
  const requests: string[] = [];
  let failingPuts = 0;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let status: number;
      try {
        status = handle(req, res, body);
      } catch (err) {
        status = send(res, 500, error('InternalError', String(err)));
      }
      requests.push(`${req.method} ${req.url} -> ${status}`);
    });
  });

  function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): number {
    const url = new URL(req.url ?? '/', 'http://s3.local');
    const denied = checkSignature(req, url, body, opts);
    if (denied) return send(res, 403, error(denied.code, denied.message));
    const [, bucketName = '', ...keyParts] = url.pathname.split('/');
    const bucket = buckets.get(bucketName);
    const key = keyParts.map((p) => decodeURIComponent(p)).join('/');
    const method = req.method ?? 'GET';
    if (!bucketName) return send(res, 400, error('InvalidRequest', 'ListBuckets is not supported'));
    if (!key) {
      if (method === 'PUT') {
        if (!bucket) buckets.set(bucketName, new Map());
        return send(res, 200, '');
      }
      if (!bucket) return send(res, 404, error('NoSuchBucket', `no bucket ${bucketName}`), method === 'HEAD');
      if (method === 'HEAD') return send(res, 200, '');
      if (method === 'GET' && url.searchParams.get('list-type') === '2') return send(res, 200, listV2(bucketName, bucket, url.searchParams));
      return send(res, 501, error('NotImplemented', `${method} on a bucket is not supported`));
    }
    if (!bucket) return send(res, 404, error('NoSuchBucket', `no bucket ${bucketName}`), method === 'HEAD');
    if (method === 'PUT' && failingPuts > 0) {
      failingPuts--;
      return send(res, 503, error('SlowDown', 'Please reduce your request rate.'));
    }
    if (method === 'PUT') {
      if (req.headers['x-amz-copy-source']) return send(res, 501, error('NotImplemented', 'CopyObject is not supported'));
      const etag = `"${createHash('md5').update(body).digest('hex')}"`;
      bucket.set(key, { body, lastModified: new Date(Math.floor(Date.now() / 1000) * 1000), etag });
      res.setHeader('etag', etag);
      return send(res, 200, '');
    }
    if (method === 'DELETE') {
      bucket.delete(key);
      res.statusCode = 204;
      res.end();
      return 204;
    }
    if (method === 'GET' || method === 'HEAD') {
      const object = bucket.get(key);
      if (!object) return send(res, 404, error('NoSuchKey', 'The specified key does not exist.'), method === 'HEAD');
      res.statusCode = 200;
      res.setHeader('content-type', 'application/octet-stream');
      res.setHeader('content-length', String(object.body.length));
      res.setHeader('etag', object.etag);
      res.setHeader('last-modified', object.lastModified.toUTCString());
      res.end(method === 'HEAD' ? undefined : object.body);
      return 200;
    }
    return send(res, 501, error('NotImplemented', `${method} is not supported`));
  }

  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    objects: (bucket) => buckets.get(bucket) ?? new Map(),
    dropBucket: (bucket) => void buckets.delete(bucket),
    failPuts: (n) => void (failingPuts = n),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function listV2(bucketName: string, bucket: Map<string, StoredObject>, q: URLSearchParams): string {
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeys = Math.min(Number(q.get('max-keys') ?? 1000) || 1000, 1000);
  const after = q.get('continuation-token') ?? q.get('start-after') ?? '';
  const enc = q.get('encoding-type') === 'url' ? (s: string) => encodeURIComponent(s).replace(/%2F/g, '/') : (s: string) => s;
  const keys = [...bucket.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
  const contents: string[] = [];
  const prefixes = new Set<string>();
  let last = '';
  let truncated = false;
  for (const k of keys) {
    if (contents.length + prefixes.size >= maxKeys) {
      truncated = true;
      break;
    }
    const rest = k.slice(prefix.length);
    const cut = delimiter ? rest.indexOf(delimiter) : -1;
    if (cut >= 0) {
      const common = prefix + rest.slice(0, cut + delimiter.length);
      if (!prefixes.has(common)) prefixes.add(common);
      last = common + '\uffff';
      continue;
    }
    const o = bucket.get(k) as StoredObject;
    contents.push(
      `<Contents><Key>${xml(enc(k))}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xml(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    );
    last = k;
  }
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>${xml(bucketName)}</Name><Prefix>${xml(enc(prefix))}</Prefix><KeyCount>${contents.length + prefixes.size}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>` +
    (delimiter ? `<Delimiter>${xml(enc(delimiter))}</Delimiter>` : '') +
    (q.get('encoding-type') === 'url' ? '<EncodingType>url</EncodingType>' : '') +
    `<IsTruncated>${truncated}</IsTruncated>` +
    (truncated ? `<NextContinuationToken>${xml(last)}</NextContinuationToken>` : '') +
    contents.join('') +
    [...prefixes].map((p) => `<CommonPrefixes><Prefix>${xml(enc(p))}</Prefix></CommonPrefixes>`).join('') +
    '</ListBucketResult>'
  );
}

/** Verifies the SigV4 `Authorization` header; returns the S3 error to answer, or undefined. */
function checkSignature(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  keys: { accessKeyId: string; secretAccessKey: string },
): { code: string; message: string } | undefined {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { code: 'AccessDenied', message: 'expected an AWS4-HMAC-SHA256 Authorization header' };
  const [, keyId, date, region, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string];
  if (keyId !== keys.accessKeyId) return { code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.' };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(date)) return { code: 'AccessDenied', message: 'x-amz-date does not match the credential scope' };
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
  if (payloadHash.startsWith('STREAMING-')) return { code: 'NotImplemented', message: 'aws-chunked uploads are not supported' };
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== createHash('sha256').update(body).digest('hex')) {
    return { code: 'XAmzContentSHA256Mismatch', message: 'The provided x-amz-content-sha256 header does not match what was computed.' };
  }
  const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => ({ k: rfc3986(k), v: rfc3986(v) }))
    .sort((a, b) => cmp(a.k, b.k) || cmp(a.v, b.v))
    .map(({ k, v }) => `${k}=${v}`)
    .join('&');
  const headers = signedHeaders
    .split(';')
    .map(
      (h) =>
        `${h}:${String(req.headers[h] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const canonicalPath = url.pathname
    .split('/')
    .map((seg) => rfc3986(decodeURIComponent(seg)))
    .join('/');
  const canonical = [req.method, canonicalPath, query, headers, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (k: string | Buffer, s: string): Buffer => createHmac('sha256', k).update(s).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${keys.secretAccessKey}`, date), region), 's3'), 'aws4_request');
  const expected = hmac(signingKey, toSign);
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    return {
      code: 'SignatureDoesNotMatch',
      message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    };
  }
  return undefined;
}

function send(res: ServerResponse, status: number, text: string, head = false): number {
  res.statusCode = status;
  if (text) res.setHeader('content-type', 'application/xml');
  res.end(head ? undefined : text);
  return status;
}

function error(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xml(message)}</Message></Error>`;
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
