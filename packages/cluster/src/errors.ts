// Error codes thrown by @tributary/cluster.
import { defineError } from '@tributary/core';

export const ErrClusterClosed = defineError(
  'TRIB_CLUSTER_CLOSED',
  (what: string) => `cluster is closed (${what})`,
);
export const ErrClusterNoBucket = defineError(
  'TRIB_CLUSTER_NO_BUCKET',
  (name: string) => `no bucket named "${name}"`,
);
export const ErrClusterNode = defineError(
  'TRIB_CLUSTER_NODE',
  (node: number, why: string) => `node ${node}: ${why}`,
);
export const ErrClusterKeyNotFound = defineError(
  'TRIB_CLUSTER_KEY_NOT_FOUND',
  (key: string) => `document "${key}" not found`,
);
export const ErrClusterKeyExists = defineError(
  'TRIB_CLUSTER_KEY_EXISTS',
  (key: string) => `document "${key}" exists (or CAS mismatch)`,
);
export const ErrClusterVbucketUnavailable = defineError(
  'TRIB_CLUSTER_VBUCKET_UNAVAILABLE',
  (vb: number, why: string) => `vbucket ${vb} is unavailable: ${why}`,
  { retriable: true },
);
export const ErrClusterTopology = defineError(
  'TRIB_CLUSTER_TOPOLOGY',
  (why: string) => `topology change refused: ${why}`,
);
export const ErrClusterUnknownCollection = defineError(
  'TRIB_CLUSTER_UNKNOWN_COLLECTION',
  (path: string, manifestUid: number) =>
    `no collection "${path}" in the bucket's manifest (uid ${manifestUid.toString(16)})`,
);
export const ErrClusterCollections = defineError(
  'TRIB_CLUSTER_COLLECTIONS',
  (why: string) => `collections change refused: ${why}`,
);
