import { ErrAuthFailed } from '@tributary/core';
import { type Dispatcher, request } from 'undici';
import { ErrClusterMap } from './errors.js';

/** A parsed terse bucket config: what the datasource needs to place vbuckets on data nodes. */
export interface ClusterMap {
  readonly rev: number;
  readonly revEpoch: number;
  readonly bucketName: string;
  readonly bucketUuid: string;
  readonly numVbuckets: number;
  /** Data-node KV endpoints ("host:port", `$HOST` resolved), indexed by vBucketMap entries. */
  readonly servers: readonly string[];
  /** The TLS KV endpoint of each server (from nodesExt kvSSL), when known. */
  readonly tlsServers: readonly (string | undefined)[];
  /** [vbucket] → [active, replica1, ...] indexes into `servers`, -1 = none. */
  readonly vbucketMap: readonly (readonly number[])[];
  /** The cluster-manager URL this came from. */
  readonly sourceUrl: string;
  /** `collectionsManifestUid` (hex in the config), 0 when absent. */
  readonly manifestUid?: number;
}

/** Newer config = larger (revEpoch, rev). */
export function isNewerMap(a: ClusterMap, than: ClusterMap | undefined): boolean {
  if (!than) return true;
  if (a.revEpoch !== than.revEpoch) return a.revEpoch > than.revEpoch;
  return a.rev > than.rev;
}

/** Turns `couchbase://h`, `couchbases://h`, `h:port` or an http(s) URL into the cluster-manager base URL. */
export function normalizeServerUrl(url: string): URL {
  let u = url.trim();
  if (/^couchbases:\/\//i.test(u)) {
    const rest = u.slice('couchbases://'.length).split(/[/,?]/)[0]!;
    u = `https://${rest.includes(':') && !rest.endsWith(']') ? rest : `${rest}:18091`}`;
  } else if (/^couchbase:\/\//i.test(u)) {
    const rest = u.slice('couchbase://'.length).split(/[/,?]/)[0]!;
    u = `http://${rest.includes(':') && !rest.endsWith(']') ? rest : `${rest}:8091`}`;
  } else if (!/^https?:\/\//i.test(u)) {
    u = `http://${u}`;
  }
  return new URL(u);
}

function hostOf(u: URL): string {
  return u.hostname; // IPv6 keeps its brackets in URL.hostname
}

function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  if (i < 0) return { host: s, port: 0 };
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/** Parses a terse (or full) bucket config JSON as served by /pools/default/b/<bucket>. */
export function parseClusterMap(json: unknown, sourceUrl: string): ClusterMap {
  const url = new URL(sourceUrl);
  const fail = (why: string) => ErrClusterMap(sourceUrl, why);
  if (typeof json !== 'object' || json === null) throw fail('not a JSON object');
  const c = json as Record<string, unknown>;
  const vbsm = c.vBucketServerMap as Record<string, unknown> | undefined;
  if (!vbsm || typeof vbsm !== 'object') throw fail('no vBucketServerMap');
  const serverList = vbsm.serverList;
  const vbMap = vbsm.vBucketMap;
  if (!Array.isArray(serverList) || !serverList.every((s) => typeof s === 'string'))
    throw fail('bad serverList');
  if (!Array.isArray(vbMap) || vbMap.length === 0) throw fail('empty vBucketMap');
  const host = hostOf(url);
  const servers = (serverList as string[]).map((s) => s.replace('$HOST', host));
  const vbucketMap: number[][] = [];
  for (const row of vbMap) {
    if (!Array.isArray(row) || !row.every((i) => Number.isInteger(i) && i >= -1 && i < servers.length)) {
      throw fail('bad vBucketMap row');
    }
    vbucketMap.push(row as number[]);
  }
  const tlsServers: (string | undefined)[] = servers.map(() => undefined);
  if (Array.isArray(c.nodesExt)) {
    for (const n of c.nodesExt as Record<string, unknown>[]) {
      const services = (n?.services ?? {}) as Record<string, number>;
      const nodeHost = typeof n?.hostname === 'string' ? (n.hostname as string) : host;
      if (typeof services.kv !== 'number' || typeof services.kvSSL !== 'number') continue;
      const idx = servers.findIndex((s) => {
        const hp = splitHostPort(s);
        return (
          hp.port === services.kv &&
          (hp.host === nodeHost || hp.host === `[${nodeHost}]` || `[${hp.host}]` === nodeHost)
        );
      });
      if (idx >= 0) tlsServers[idx] = `${splitHostPort(servers[idx]!).host}:${services.kvSSL}`;
    }
  }
  return {
    rev: typeof c.rev === 'number' ? c.rev : 0,
    revEpoch: typeof c.revEpoch === 'number' ? c.revEpoch : 0,
    bucketName: typeof c.name === 'string' ? c.name : '',
    bucketUuid: typeof c.uuid === 'string' ? c.uuid : '',
    numVbuckets: vbucketMap.length,
    servers,
    tlsServers,
    vbucketMap,
    sourceUrl,
    manifestUid:
      typeof c.collectionsManifestUid === 'string' && /^[0-9a-f]{1,14}$/i.test(c.collectionsManifestUid)
        ? Number.parseInt(c.collectionsManifestUid, 16)
        : 0,
  };
}

export interface FetchMapOptions {
  poolName: string;
  bucketName: string;
  username?: string;
  password?: string;
  signal?: AbortSignal;
  timeoutMs: number;
  /** The HTTP client to use (the datasource's one for https, which connects through the tls factory). */
  dispatcher?: Dispatcher;
}

function headers(o: FetchMapOptions): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json' };
  if (o.username !== undefined) {
    h.authorization = `Basic ${Buffer.from(`${o.username}:${o.password ?? ''}`).toString('base64')}`;
  }
  return h;
}

function bucketPath(base: URL, o: FetchMapOptions, streaming: boolean): string {
  const p = `/pools/${encodeURIComponent(o.poolName)}/${streaming ? 'bs' : 'b'}/${encodeURIComponent(o.bucketName)}`;
  return new URL(p, base).toString();
}

/**
 * GET the terse bucket config from one cluster-manager URL. Rejects TRIB_AUTH_FAILED on 401/403
 * (details: serverUrl, user), TRIB_DATASOURCE_CLUSTER_MAP on anything else unusable.
 */
export async function fetchClusterMap(serverUrl: string, o: FetchMapOptions): Promise<ClusterMap> {
  const base = normalizeServerUrl(serverUrl);
  const url = bucketPath(base, o, false);
  // A plain timer, not AbortSignal.timeout inside AbortSignal.any: on Node 20 the timeout signal
  // combined that way can be collected before it fires.
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`no answer within ${o.timeoutMs} ms`)),
    o.timeoutMs,
  );
  const onAbort = () => controller.abort(o.signal?.reason);
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      method: 'GET',
      headers: headers(o),
      signal,
      dispatcher: o.dispatcher,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
    });
  } catch (err) {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    throw ErrClusterMap(serverUrl, `request failed: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await readClusterMap(res, serverUrl, url, base, o);
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

async function readClusterMap(
  res: Awaited<ReturnType<typeof request>>,
  serverUrl: string,
  url: string,
  base: URL,
  o: FetchMapOptions,
): Promise<ClusterMap> {
  if (res.statusCode === 401 || res.statusCode === 403) {
    await res.body.dump();
    throw ErrAuthFailed(
      `cluster manager ${serverUrl} refused user "${o.username ?? ''}" (HTTP ${res.statusCode})`,
      {
        details: { serverUrl, user: o.username ?? '' },
        retriable: true,
      },
    );
  }
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw ErrClusterMap(serverUrl, `HTTP ${res.statusCode} for ${url}`);
  }
  let json: unknown;
  try {
    json = await res.body.json();
  } catch (err) {
    throw ErrClusterMap(serverUrl, 'body is not JSON', { cause: err });
  }
  return parseClusterMap(json, base.toString());
}

/**
 * Splits a stream of concatenated JSON objects (the streaming config endpoint separates them with
 * blank lines; we only rely on brace balance, strings respected).
 */
export class JsonObjectSplitter {
  #buf = '';
  #depth = 0;
  #inString = false;
  #escape = false;
  #start = -1;
  #scan = 0;
  readonly maxBytes: number;

  constructor(maxBytes = 64 * 1024 * 1024) {
    this.maxBytes = maxBytes;
  }

  push(text: string): string[] {
    this.#buf += text;
    const out: string[] = [];
    const b = this.#buf;
    let i = this.#scan;
    for (; i < b.length; i++) {
      const ch = b.charCodeAt(i);
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (ch === 0x5c) this.#escape = true;
        else if (ch === 0x22) this.#inString = false;
        continue;
      }
      if (ch === 0x22) this.#inString = this.#depth > 0;
      else if (ch === 0x7b) {
        if (this.#depth === 0) this.#start = i;
        this.#depth++;
      } else if (ch === 0x7d && this.#depth > 0) {
        this.#depth--;
        if (this.#depth === 0) out.push(b.slice(this.#start, i + 1));
      }
    }
    if (this.#depth === 0) {
      this.#buf = '';
      this.#scan = 0;
    } else {
      this.#buf = b.slice(this.#start);
      this.#scan = i - this.#start;
      this.#start = 0;
      if (this.#buf.length > this.maxBytes) throw new RangeError('streaming config object too large');
    }
    return out;
  }
}

/**
 * Follows /pools/<pool>/bs/<bucket>: calls `onMap` for each config pushed. Resolves when the server
 * ends the stream or the signal aborts; rejects on HTTP or parse errors (like fetchClusterMap).
 */
export async function followClusterMap(
  serverUrl: string,
  o: Omit<FetchMapOptions, 'timeoutMs'> & { connectTimeoutMs: number },
  onMap: (map: ClusterMap) => void,
): Promise<void> {
  const base = normalizeServerUrl(serverUrl);
  const url = bucketPath(base, { ...o, timeoutMs: o.connectTimeoutMs }, true);
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      method: 'GET',
      headers: headers({ ...o, timeoutMs: 0 }),
      signal: o.signal,
      dispatcher: o.dispatcher,
      headersTimeout: o.connectTimeoutMs,
      bodyTimeout: 0,
    });
  } catch (err) {
    if (o.signal?.aborted) return;
    throw ErrClusterMap(serverUrl, `streaming request failed: ${(err as Error).message}`, { cause: err });
  }
  if (res.statusCode === 401 || res.statusCode === 403) {
    await res.body.dump();
    throw ErrAuthFailed(
      `cluster manager ${serverUrl} refused user "${o.username ?? ''}" (HTTP ${res.statusCode})`,
      {
        details: { serverUrl, user: o.username ?? '' },
        retriable: true,
      },
    );
  }
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw ErrClusterMap(serverUrl, `HTTP ${res.statusCode} for ${url}`);
  }
  const splitter = new JsonObjectSplitter();
  res.body.setEncoding('utf8');
  try {
    for await (const chunk of res.body) {
      for (const text of splitter.push(chunk as string)) {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch (err) {
          throw ErrClusterMap(serverUrl, 'pushed config is not JSON', { cause: err });
        }
        onMap(parseClusterMap(json, base.toString()));
      }
    }
  } catch (err) {
    if (o.signal?.aborted) return;
    throw err;
  }
}
