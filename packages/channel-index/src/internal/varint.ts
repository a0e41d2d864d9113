// Little-endian base-128 varints for the index's records and since tokens; safe up to 2^53 (no
// bitwise operations above 32 bits).

/** Appends `n` to `out`. */
export function pushVarint(out: number[], n: number): void {
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

/** How many bytes `n` takes as a varint. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** Writes `n` into `out` at `at`; returns the offset after it. */
export function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  return at;
}

/** Reads varints in order. `truncated` decides what a number cut off by the end becomes. */
export class VarintReader {
  i = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly truncated: (partial: number) => number,
  ) {}

  get done(): boolean {
    return this.i >= this.bytes.length;
  }

  varint(): number {
    const b = this.bytes;
    let n = 0;
    let mul = 1;
    while (this.i < b.length) {
      const x = b[this.i++]!;
      n += (x & 0x7f) * mul;
      if ((x & 0x80) === 0) return n;
      mul *= 0x80;
    }
    return this.truncated(n);
  }
}
