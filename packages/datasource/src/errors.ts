import { defineError } from '@tributary/core';

// Codes raised by @tributary/datasource. Authentication failures use core's shared
// TRIB_AUTH_FAILED (details: { serverUrl, user }), cbdatasource's AuthFailError.

/** cbdatasource's AllServerURLsConnectBucketError: no server URL gave a usable cluster map. */
export const ErrAllServerUrlsFailed = defineError(
  'TRIB_DATASOURCE_ALL_SERVER_URLS',
  (serverUrls: readonly string[]) =>
    `could not get the cluster map of the bucket from any server URL (${serverUrls.join(', ')})`,
  { retriable: true },
);
export const ErrBucketUuidMismatch = defineError(
  'TRIB_DATASOURCE_BUCKET_UUID',
  (serverUrl: string, expected: string, found: string) =>
    `bucket UUID mismatch at ${serverUrl}: expected ${expected}, found ${found}`,
  { retriable: true },
);
export const ErrClusterMap = defineError(
  'TRIB_DATASOURCE_CLUSTER_MAP',
  (serverUrl: string, why: string) => `bad cluster map from ${serverUrl}: ${why}`,
  { retriable: true },
);
export const ErrBootstrap = defineError(
  'TRIB_DATASOURCE_BOOTSTRAP',
  (server: string, step: string, why: string) => `DCP bootstrap with ${server} failed at ${step}: ${why}`,
  { retriable: true },
);
export const ErrStream = defineError(
  'TRIB_DATASOURCE_STREAM',
  (server: string, vbucket: number, why: string) => `DCP stream of vbucket ${vbucket} from ${server}: ${why}`,
  { retriable: true },
);
export const ErrConnectionLost = defineError(
  'TRIB_DATASOURCE_CONNECTION_LOST',
  (server: string, why: string) => `DCP connection to ${server} lost: ${why}`,
  { retriable: true },
);
export const ErrPingTimeout = defineError(
  'TRIB_DATASOURCE_PING_TIMEOUT',
  (server: string, ms: number) => `DCP connection to ${server} silent for ${ms} ms after a NOOP; dropping it`,
  { retriable: true },
);
export const ErrReceiver = defineError(
  'TRIB_DATASOURCE_RECEIVER',
  (method: string, vbucket: number, why: string) => `receiver.${method}(vbucket ${vbucket}) failed: ${why}`,
  { retriable: true },
);
export const ErrMetadata = defineError(
  'TRIB_DATASOURCE_METADATA',
  (vbucket: number, why: string) => `bad metadata for vbucket ${vbucket}: ${why}`,
);
export const ErrDataSourceClosed = defineError('TRIB_DATASOURCE_CLOSED', () => 'the datasource is closed');
/**
 * A TLS peer (data node or cluster manager) whose certificate does not verify, or that refused
 * ours: a configuration problem, not an outage (`details: { server, tlsCode }`). The datasource
 * keeps retrying (certificates get rotated) until closed.
 */
export const ErrTlsCertificate = defineError(
  'TRIB_DATASOURCE_TLS_CERTIFICATE',
  (server: string, tlsCode: string, why: string) =>
    `TLS with ${server} refused over a certificate (${tlsCode}): ${why}`,
);
