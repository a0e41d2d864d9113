// Rendezvous (highest-random-weight) hashing: each vbucket goes to the live member with the
// highest hash(member, vbucket). A join or leave moves only the vbuckets that member wins or
// held (about 1/n of them), and every member computes the same answer from the same member list.

function hash32(s: string, vb: number): number {
  // FNV-1a over the member id, then the vbucket, finished with a murmur3 avalanche.
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= vb & 0xff;
  h = Math.imul(h, 0x01000193);
  h ^= vb >>> 8;
  h = Math.imul(h, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The owner of each vbucket among `members` (sorted ids make ties deterministic). */
export function assignVbuckets(
  members: readonly string[],
  vbuckets: readonly number[],
): Map<string, number[]> {
  const sorted = [...new Set(members)].sort();
  const out = new Map<string, number[]>(sorted.map((m) => [m, []]));
  if (sorted.length === 0) return out;
  for (const vb of vbuckets) {
    let best = sorted[0]!;
    let bestScore = -1;
    for (const m of sorted) {
      const score = hash32(m, vb);
      if (score > bestScore) {
        best = m;
        bestScore = score;
      }
    }
    out.get(best)!.push(vb);
  }
  return out;
}
