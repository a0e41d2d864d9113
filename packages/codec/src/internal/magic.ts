// Magic byte classification shared by the header, packet and frame decoder hot paths.

/** 0 unknown · 1 classic request · 2 classic response · 3 alt request · 4 alt response. */
export const MAGIC_KIND = new Uint8Array(256);
MAGIC_KIND[0x80] = 1;
MAGIC_KIND[0x82] = 1;
MAGIC_KIND[0x81] = 2;
MAGIC_KIND[0x83] = 2;
MAGIC_KIND[0x08] = 3;
MAGIC_KIND[0x18] = 4;

export const KIND_REQUEST = 1;
export const KIND_RESPONSE = 2;
export const KIND_ALT_REQUEST = 3;
export const KIND_ALT_RESPONSE = 4;

/** Shared empty view returned for absent fields (never written to). */
export const EMPTY: Buffer = Buffer.alloc(0);
