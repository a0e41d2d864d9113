import { createMemoryStore } from '@tributary/store-memory';
import { describe, expect, it } from 'vitest';
import { createStoreCheckpoints, decodeCheckpoint, encodeCheckpoint } from '../src/index.js';

describe('store checkpoints', () => {
  it('keeps metadata and the last seqno per vbucket; survives a new instance on the same store', async () => {
    const store = createMemoryStore();
    const ck = createStoreCheckpoints(store, { prefix: 'p/' });
    expect(await ck.getMetaData(5)).toEqual({ value: undefined, lastSeq: 0 });
    await ck.setMetaData(5, Buffer.from('meta'));
    ck.noteSeq(5, 42);
    expect(ck.checkpoint(5)).toBeInstanceOf(Promise);
    await ck.checkpoint(5);
    expect(ck.checkpoint(5)).toBeUndefined(); // nothing new
    const again = createStoreCheckpoints(store, { prefix: 'p/' });
    const md = await again.getMetaData(5);
    expect(Buffer.from(md.value!).toString()).toBe('meta');
    expect(md.lastSeq).toBe(42);
    const keys: string[] = [];
    for await (const e of store.scan({ prefix: Buffer.from('p/') }))
      keys.push(Buffer.from(e.key).toString('hex'));
    expect(keys).toEqual([`${Buffer.from('p/').toString('hex')}0005`]);
    await store.close();
  });

  it('flush() persists every noted seqno in one batch; checkpointOps gives the same record for a caller batch', async () => {
    const store = createMemoryStore();
    const ck = createStoreCheckpoints(store);
    for (let vb = 0; vb < 10; vb++) ck.noteSeq(vb, vb * 10);
    await ck.flush();
    const again = createStoreCheckpoints(store);
    expect((await again.getMetaData(7)).lastSeq).toBe(70);
    const ops = ck.checkpointOps(3, Buffer.from('m3'), 99);
    expect(ops).toHaveLength(1);
    expect(decodeCheckpoint(3, (ops[0] as { value: Uint8Array }).value)).toEqual({
      value: new Uint8Array(Buffer.from('m3')),
      lastSeq: 99,
    });
    await store.batch(ops);
    expect((await createStoreCheckpoints(store).getMetaData(3)).lastSeq).toBe(99);
    await store.close();
  });

  it('rollback goes back to the newest complete snapshot end at or below the point (or what the app says)', async () => {
    const store = createMemoryStore();
    const ck = createStoreCheckpoints(store);
    const r = ck.receiver({ dataUpdate: () => undefined, dataDelete: () => undefined });
    await r.snapshotStart(1, 1, 10, 1);
    ck.noteSeq(1, 10);
    await r.snapshotStart(1, 11, 20, 1);
    ck.noteSeq(1, 15); // snapshot 11..20 incomplete
    expect(await ck.rollback(1, 18)).toBe(10);
    expect((await ck.getMetaData(1)).lastSeq).toBe(10);
    ck.noteSeq(2, 30);
    expect(await ck.rollback(2, 20, 12)).toBe(12);
    expect(await ck.rollback(2, 20)).toBe(12); // already a consistent point
    ck.noteSeq(3, 30);
    expect(await ck.rollback(3, 20)).toBe(0); // nothing known complete below 20
    await store.close();
  });

  it('the wrapped receiver notes seqnos after the application finished, sync or async', async () => {
    const store = createMemoryStore();
    const ck = createStoreCheckpoints(store);
    let release!: () => void;
    const r = ck.receiver({
      dataUpdate: () => new Promise<void>((res) => (release = res)),
      dataDelete: () => undefined,
    });
    const req = {} as never;
    const p = r.dataUpdate(4, Buffer.from('k'), 7, req) as Promise<void>;
    expect((await ck.getMetaData(4)).lastSeq).toBe(0);
    release();
    await p;
    expect((await ck.getMetaData(4)).lastSeq).toBe(7);
    r.dataDelete(4, Buffer.from('k'), 8, req);
    expect((await ck.getMetaData(4)).lastSeq).toBe(8);
    expect(() => decodeCheckpoint(1, Buffer.from([9, 9]))).toThrow(/checkpoint/);
    expect(decodeCheckpoint(1, encodeCheckpoint(5, undefined))).toEqual({ value: undefined, lastSeq: 5 });
    await store.close();
  });
});
