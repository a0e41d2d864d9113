// Key layout of a consumer group in the shared store (all under one prefix per group):
//   <prefix>m/<member>            → member lease  {member, expiresAt, startedAt}
//   <prefix>c/<vb:4 hex>/<member> → claim: <member> streams <vb> (written before it starts)
//   <prefix>k/...                 → the group's datasource checkpoints
const enc = new TextEncoder();
const dec = new TextDecoder();

export class GroupKeys {
  readonly prefix: string;
  constructor(group: string) {
    if (!/^[\w.:-]{1,100}$/.test(group))
      throw new RangeError(`group name must match [\\w.:-]{1,100}: ${group}`);
    this.prefix = `tributary/group/${group}/`;
  }
  member(id: string): Uint8Array {
    return enc.encode(`${this.prefix}m/${id}`);
  }
  members(): Uint8Array {
    return enc.encode(`${this.prefix}m/`);
  }
  claim(vb: number, id: string): Uint8Array {
    return enc.encode(`${this.prefix}c/${vb.toString(16).padStart(4, '0')}/${id}`);
  }
  claims(vb?: number): Uint8Array {
    return enc.encode(
      vb === undefined ? `${this.prefix}c/` : `${this.prefix}c/${vb.toString(16).padStart(4, '0')}/`,
    );
  }
  checkpoints(): string {
    return `${this.prefix}k/`;
  }
  /** Parses a claim key back into (vb, member). */
  parseClaim(key: Uint8Array): { vb: number; member: string } {
    const rest = dec.decode(key).slice(this.prefix.length + 2);
    return { vb: Number.parseInt(rest.slice(0, 4), 16), member: rest.slice(5) };
  }
  parseMember(key: Uint8Array): string {
    return dec.decode(key).slice(this.prefix.length + 2);
  }
}

export const json = {
  encode: (v: unknown) => enc.encode(JSON.stringify(v)),
  decode: <T>(b: Uint8Array) => JSON.parse(dec.decode(b)) as T,
};
