import { Datatype } from '@tributary/codec';
import { createStoreCheckpoints, type StreamEvent, streamBucket } from '@tributary/datasource';
import { createLmdbStore } from '@tributary/store-lmdb';
import { Command, Option } from 'commander';
import type { CommandContext } from '../context.js';
import { ErrCliUsage } from '../errors.js';
import { parseNonNegativeInt } from '../internal/common.js';
import { KvWriter } from '../internal/kv-client.js';
import { addClusterClientOptions } from './cluster-options.js';

interface TailOpts {
  cluster: URL;
  bucket: string;
  user: { username: string; password: string };
  from?: 'now' | 'beginning' | 'saved';
  checkpoint?: string;
  limit: number;
}

const PREFIX = 'tributary-tail/';

function eventLine(ev: StreamEvent): string | undefined {
  if (ev.type === 'mutation' || ev.type === 'deletion' || ev.type === 'expiration') {
    const out: Record<string, unknown> = {
      kind: ev.type,
      vbucket: ev.vbucket,
      seqno: ev.seq,
      key: ev.key.toString('utf8'),
      cas: ev.req.cas.toString(),
    };
    if (ev.type === 'mutation') {
      let json: unknown;
      let isJson = false;
      if ((ev.req.datatype & Datatype.Json) !== 0 || ev.req.value[0] === 0x7b || ev.req.value[0] === 0x5b) {
        try {
          json = JSON.parse(ev.req.value.toString('utf8'));
          isJson = true;
        } catch {}
      }
      if (isJson) out.value = json;
      else out.valueBase64 = ev.req.value.toString('base64');
    }
    return JSON.stringify(out);
  }
  if (ev.type === 'rollback') return JSON.stringify({ kind: 'rollback', vbucket: ev.vbucket, seqno: ev.seq });
  return undefined;
}

/** `tributary tail`: a bucket's mutations as NDJSON, resumable from a checkpoint file. */
export function tailCommand(ctx: CommandContext): Command {
  return addClusterClientOptions(
    new Command('tail').description(
      'stream a bucket as NDJSON (kind, vbucket, seqno, key, cas, value), resumable',
    ),
  )
    .addOption(
      new Option(
        '--from <where>',
        'start: now, beginning, or saved (the checkpoint; default with --checkpoint)',
      ).choices(['now', 'beginning', 'saved']),
    )
    .option('--checkpoint <dir>', 'LMDB directory keeping the position (resume with --from saved)')
    .option('--limit <n>', 'stop after this many events (0 = until Ctrl-C)', parseNonNegativeInt, 0)
    .action(async (o: TailOpts) => {
      const from = o.from ?? (o.checkpoint ? 'saved' : 'beginning');
      if (from === 'saved' && !o.checkpoint) throw ErrCliUsage('--from saved needs --checkpoint <dir>');
      const auth = { username: o.user.username, password: o.user.password };
      // --from now: events at or below each vbucket's high seqno at start are skipped.
      let skipBelow: Map<number, number> | undefined;
      if (from === 'now') {
        const kv = await KvWriter.connect({
          serverUrl: o.cluster.href,
          bucket: o.bucket,
          ...auth,
          signal: ctx.signal,
        });
        try {
          skipBelow = await kv.highSeqnos();
        } finally {
          kv.close();
        }
      }
      const store = o.checkpoint ? createLmdbStore({ path: o.checkpoint }) : undefined;
      try {
        if (store && from !== 'saved') {
          const dels = [];
          for await (const { key } of store.scan({ prefix: Buffer.from(PREFIX) }))
            dels.push({ type: 'del' as const, key });
          if (dels.length) await store.batch(dels);
        }
        const checkpoints = store ? createStoreCheckpoints(store, { prefix: PREFIX }) : undefined;
        const stream = streamBucket({
          serverUrls: [o.cluster.href],
          bucketName: o.bucket,
          auth,
          checkpoints,
          signal: ctx.signal,
          options: { logger: ctx.logger },
        });
        let n = 0;
        try {
          for await (const ev of stream) {
            if (ev.type === 'error') {
              ctx.err(`tributary tail: ${ev.error.message}`);
              continue;
            }
            if (
              skipBelow &&
              'seq' in ev &&
              ev.type !== 'rollback' &&
              ev.seq <= (skipBelow.get(ev.vbucket) ?? 0)
            )
              continue;
            const line = eventLine(ev);
            if (!line) continue;
            ctx.out(line);
            if (o.limit > 0 && ++n >= o.limit) break;
          }
        } finally {
          await stream.close();
          await checkpoints?.flush();
        }
      } finally {
        await store?.close();
      }
    });
}
