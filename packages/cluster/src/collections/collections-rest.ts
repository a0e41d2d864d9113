// ns_server's REST for scopes and collections, in the paths and forms the SDKs' collection
// managers use (couchbase-cxx-client collection_create / scope_create / *_drop):
//   POST   /pools/default/buckets/<b>/scopes                       name=<scope>
//   POST   /pools/default/buckets/<b>/scopes/<s>/collections       name=<c>[&maxTTL=<s>][&history=false]
//   DELETE /pools/default/buckets/<b>/scopes/<s>
//   DELETE /pools/default/buckets/<b>/scopes/<s>/collections/<c>
// Success is 200 `{"uid":"<new manifest uid, hex>"}`; refusals are ns_server's 400 / 404 texts
// ("Collection with name `c` already exists in scope `s`", "Scope with name `s` is not found"),
// which the SDKs match to CollectionExists / ScopeNotFound. Bodies are form-encoded and read up
// to MAX_BODY bytes (hostile input: anything larger is 413).
import type http from 'node:http';
import type { BucketCollections } from './bucket-collections.js';
import { ManifestError } from './manifest.js';

const MAX_BODY = 16 * 1024;
export const SCOPES_PATH =
  /^\/pools\/default\/buckets\/([^/]+)\/scopes(?:\/([^/]+)(?:\/collections(?:\/([^/]+))?)?)?$/;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(s) });
  res.end(s);
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function decode(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** Serves a POST or DELETE under .../scopes; `lookup` finds the bucket's collections by name. */
export async function handleCollectionsWrite(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
  lookup: (bucket: string) => BucketCollections | undefined,
): Promise<void> {
  const m = SCOPES_PATH.exec(path);
  const bucket = decode(m?.[1]);
  const scope = m?.[2] === undefined ? undefined : decode(m[2]);
  const coll = m?.[3] === undefined ? undefined : decode(m[3]);
  if (
    !m ||
    bucket === undefined ||
    (m[2] !== undefined && scope === undefined) ||
    (m[3] !== undefined && coll === undefined)
  )
    return send(res, 400, { errors: { _: 'malformed path' } });
  const cols = lookup(bucket);
  if (!cols) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end(`Requested resource not found.\r\nbucket ${bucket.slice(0, 100)}`);
    return;
  }
  const collectionsPath = path.includes('/collections');
  try {
    if (req.method === 'POST') {
      const form = await readForm(req);
      if (!form) return send(res, 413, { errors: { _: 'request body too large' } });
      const name = form.get('name') ?? '';
      if (!collectionsPath && scope === undefined) cols.createScope(name);
      else if (collectionsPath && scope !== undefined && coll === undefined) {
        const ttlRaw = form.get('maxTTL') ?? form.get('maxExpiry');
        const maxTtl = ttlRaw === null || ttlRaw === '' ? 0 : Number(ttlRaw);
        if (!Number.isInteger(maxTtl))
          return send(res, 400, { errors: { maxTTL: 'The value must be an integer' } });
        cols.createCollection(scope, name, maxTtl);
      } else return send(res, 405, { errors: { _: 'method not allowed' } });
    } else if (req.method === 'DELETE') {
      if (scope === undefined) return send(res, 405, { errors: { _: 'method not allowed' } });
      if (collectionsPath) {
        if (coll === undefined) return send(res, 405, { errors: { _: 'method not allowed' } });
        cols.dropCollection(scope, coll);
      } else cols.dropScope(scope);
    } else return send(res, 405, { errors: { _: 'method not allowed' } });
  } catch (err) {
    if (err instanceof ManifestError) return send(res, err.status, { errors: { _: err.message } });
    throw err;
  }
  send(res, 200, { uid: cols.uid.toString(16) });
}
