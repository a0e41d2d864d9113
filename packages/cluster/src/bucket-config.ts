// Bucket configuration JSON in Couchbase Server's shape and JSON types (ns_server's terse and
// full bucket info). Strict decoders in other languages depend on the types: `uptime` is a
// string, `ports` an object of integers, `replicaNumber` an integer, `collectionsManifestUid`
// a string, and serverList, nodes and nodesExt list the same nodes in the same order.

export interface ConfigNode {
  index: number;
  host: string;
  kvPort: number;
  kvSslPort?: number;
  mgmtPort: number;
  /** HTTPS cluster-manager port (ns_server's 18091), when the cluster listens with TLS. */
  mgmtSslPort?: number;
  running: boolean;
  /** False once failed over (until a rebalance adds it back). */
  inCluster: boolean;
  startedAt: number;
}

export interface ConfigBucket {
  name: string;
  uuid: string;
  ramQuotaMb: number;
  replicaNumber: number;
  numVbuckets: number;
  type?: 'couchbase' | 'ephemeral';
  /** The collections manifest uid (hex in `collectionsManifestUid`). */
  manifestUid?: number;
}

export interface ConfigView {
  rev: number;
  revEpoch: number;
  clusterUuid: string;
  nodes: readonly ConfigNode[];
  /** Per vbucket: [active, replica...] as cluster node indexes (-1 none). */
  vbMap: readonly (readonly number[])[];
  numReplicas: number;
}

/** What SDKs check before they use a feature (the cxx core's configuration_json.hxx reads these). */
export const BUCKET_CAPABILITIES = [
  'collections',
  'durableWrite',
  'tombstonedUserXAttrs',
  'subdoc.ReplaceBodyWithXattr',
  'subdoc.DocumentMacroSupport',
  'subdoc.ReviveDocument',
  'subdoc.AccessDeleted',
  'subdoc.ReplicaRead',
  'dcp',
  'cbhello',
  'touch',
  'cccp',
  'nodesExt',
  'xattr',
] as const;

export const SERVER_VERSION = '7.6.2-3721-enterprise';

/** Nodes that appear in configs (in the cluster: not failed over), in index order. */
export function configNodes(view: ConfigView): ConfigNode[] {
  return view.nodes.filter((n) => n.inCluster);
}

/** vBucketMap rows re-indexed to serverList positions. */
export function serverMap(view: ConfigView): { serverList: number[]; vBucketMap: number[][] } {
  const nodes = configNodes(view);
  const pos = new Map(nodes.map((n, i) => [n.index, i]));
  const vBucketMap = view.vbMap.map((row) => {
    const out: number[] = [];
    for (let r = 0; r <= view.numReplicas; r++) {
      const n = row[r];
      out.push(n === undefined || n < 0 ? -1 : (pos.get(n) ?? -1));
    }
    return out;
  });
  return { serverList: nodes.map((n) => n.index), vBucketMap };
}

export interface HostOptions {
  /** Index of the node answering (gets `thisNode: true`), if any. */
  thisNode?: number;
  /** Host name written for a node (e.g. "$HOST" for the answering node over CCCP). */
  hostFor: (node: ConfigNode) => string;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function nodesExt(view: ConfigView, h: HostOptions) {
  return configNodes(view).map((n) => {
    const services: Record<string, number> = { mgmt: n.mgmtPort, kv: n.kvPort };
    if (n.kvSslPort) services.kvSSL = n.kvSslPort;
    if (n.mgmtSslPort) services.mgmtSSL = n.mgmtSslPort;
    const e: Record<string, unknown> = { services, hostname: h.hostFor(n) };
    if (h.thisNode === n.index) e.thisNode = true;
    return e;
  });
}

function vbucketServerMap(view: ConfigView, h: HostOptions) {
  const nodes = configNodes(view);
  const { vBucketMap } = serverMap(view);
  return {
    hashAlgorithm: 'CRC',
    numReplicas: view.numReplicas,
    serverList: nodes.map((n) => hostPort(h.hostFor(n), n.kvPort)),
    vBucketMap,
  };
}

/** The terse bucket config (CCCP GET_CLUSTER_CONFIG, /pools/default/b/<b>, /bs/<b>). */
export function terseBucketConfig(
  view: ConfigView,
  bucket: ConfigBucket,
  h: HostOptions,
): Record<string, unknown> {
  return {
    rev: view.rev,
    revEpoch: view.revEpoch,
    name: bucket.name,
    uri: `/pools/default/buckets/${encodeURIComponent(bucket.name)}?bucket_uuid=${bucket.uuid}`,
    streamingUri: `/pools/default/bucketsStreaming/${encodeURIComponent(bucket.name)}?bucket_uuid=${bucket.uuid}`,
    bucketCapabilitiesVer: '',
    bucketCapabilities: [...BUCKET_CAPABILITIES],
    collectionsManifestUid: (bucket.manifestUid ?? 0).toString(16),
    nodeLocator: 'vbucket',
    uuid: bucket.uuid,
    ddocs: { uri: `/pools/default/buckets/${encodeURIComponent(bucket.name)}/ddocs` },
    vBucketServerMap: vbucketServerMap(view, h),
    nodes: configNodes(view).map((n) => ({
      hostname: hostPort(h.hostFor(n), n.mgmtPort),
      ports: { direct: n.kvPort },
    })),
    nodesExt: nodesExt(view, h),
    clusterCapabilitiesVer: [1, 0],
    clusterCapabilities: { n1ql: ['enhancedPreparedStatements'] },
  };
}

function fullNode(view: ConfigView, n: ConfigNode, h: HostOptions) {
  const node: Record<string, unknown> = {
    couchApiBase: '',
    clusterMembership: n.inCluster ? 'active' : 'inactiveFailed',
    recoveryType: 'none',
    status: n.running ? 'healthy' : 'unhealthy',
    otpNode: `ns_1@${h.hostFor(n)}-${n.index}`,
    hostname: hostPort(h.hostFor(n), n.mgmtPort),
    nodeUUID: `${view.clusterUuid.slice(0, 24)}${n.index.toString(16).padStart(8, '0')}`,
    clusterCompatibility: 458758,
    version: SERVER_VERSION,
    os: `${process.arch}-${process.platform}`,
    cpuCount: 2,
    ports: n.kvSslPort
      ? { direct: n.kvPort, httpsMgmt: n.mgmtSslPort ?? n.mgmtPort, distTCP: 21100 }
      : { direct: n.kvPort, distTCP: 21100 },
    services: ['kv'],
    nodeEncryption: false,
    configuredHostname: hostPort(h.hostFor(n), n.mgmtPort),
    addressFamily: 'inet',
    externalListeners: [{ afamily: 'inet', nodeEncryption: false }],
    uptime: String(n.running ? Math.max(0, Math.floor((Date.now() - n.startedAt) / 1000)) : 0),
    memoryTotal: 8_589_934_592,
    memoryFree: 4_294_967_296,
    mcdMemoryReserved: 6553,
    mcdMemoryAllocated: 6553,
    interestingStats: {},
    systemStats: {
      cpu_utilization_rate: 0,
      swap_total: 0,
      swap_used: 0,
      mem_total: 8_589_934_592,
      mem_free: 4_294_967_296,
    },
  };
  if (h.thisNode === n.index) node.thisNode = true;
  return node;
}

/** The full bucket info (/pools/default/buckets and /pools/default/buckets/<b>). */
export function fullBucketConfig(
  view: ConfigView,
  bucket: ConfigBucket,
  h: HostOptions,
): Record<string, unknown> {
  const name = encodeURIComponent(bucket.name);
  const ram = bucket.ramQuotaMb * 1024 * 1024;
  const nodes = configNodes(view);
  return {
    name: bucket.name,
    nodeLocator: 'vbucket',
    bucketType: bucket.type === 'ephemeral' ? 'ephemeral' : 'membase',
    storageBackend: bucket.type === 'ephemeral' ? 'none' : 'couchstore',
    uuid: bucket.uuid,
    uri: `/pools/default/buckets/${name}?bucket_uuid=${bucket.uuid}`,
    streamingUri: `/pools/default/bucketsStreaming/${name}?bucket_uuid=${bucket.uuid}`,
    numVBuckets: bucket.numVbuckets,
    bucketCapabilitiesVer: '',
    bucketCapabilities: [...BUCKET_CAPABILITIES],
    collectionsManifestUid: (bucket.manifestUid ?? 0).toString(16),
    ddocs: { uri: `/pools/default/buckets/${name}/ddocs` },
    vBucketServerMap: vbucketServerMap(view, h),
    localRandomKeyUri: `/pools/default/buckets/${name}/localRandomKey`,
    controllers: {
      compactAll: `/pools/default/buckets/${name}/controller/compactBucket`,
      compactDB: `/pools/default/buckets/${name}/controller/compactDatabases`,
      purgeDeletes: `/pools/default/buckets/${name}/controller/unsafePurgeBuckets`,
      startRecovery: `/pools/default/buckets/${name}/controller/startRecovery`,
    },
    nodes: nodes.map((n) => fullNode(view, n, h)),
    stats: {
      uri: `/pools/default/buckets/${name}/stats`,
      directoryURI: `/pools/default/buckets/${name}/stats/Directory`,
      nodeStatsListURI: `/pools/default/buckets/${name}/nodes`,
    },
    authType: 'sasl',
    autoCompactionSettings: false,
    replicaIndex: false,
    rank: 0,
    enableCrossClusterVersioning: false,
    versionPruningWindowHrs: 720,
    replicaNumber: bucket.replicaNumber,
    threadsNumber: 3,
    quota: { ram, rawRAM: ram },
    basicStats: {
      quotaPercentUsed: 0,
      opsPerSec: 0,
      diskFetches: 0,
      itemCount: 0,
      diskUsed: 0,
      dataUsed: 0,
      memUsed: 0,
      vbActiveNumNonResident: 0,
    },
    evictionPolicy: 'valueOnly',
    durabilityMinLevel: 'none',
    pitrEnabled: false,
    pitrGranularity: 600,
    pitrMaxHistoryAge: 86400,
    conflictResolutionType: 'seqno',
    maxTTL: 0,
    compressionMode: 'passive',
    rev: view.rev,
    revEpoch: view.revEpoch,
    nodesExt: nodesExt(view, h),
    clusterCapabilitiesVer: [1, 0],
    clusterCapabilities: { n1ql: ['enhancedPreparedStatements'] },
  };
}

/** GET /pools */
export function poolsInfo(view: ConfigView): Record<string, unknown> {
  return {
    isAdminCreds: true,
    isROAdminCreds: false,
    isEnterprise: true,
    allowedServices: ['kv'],
    isDeveloperPreview: false,
    packageVariant: '',
    pools: [
      {
        name: 'default',
        uri: `/pools/default?uuid=${view.clusterUuid}`,
        streamingUri: `/poolsStreaming/default?uuid=${view.clusterUuid}`,
      },
    ],
    settings: {
      maxParallelIndexers: '/settings/maxParallelIndexers?uuid=' + view.clusterUuid,
      viewUpdateDaemon: '/settings/viewUpdateDaemon?uuid=' + view.clusterUuid,
    },
    uuid: view.clusterUuid,
    implementationVersion: SERVER_VERSION,
    componentsVersion: { ns_server: SERVER_VERSION, kernel: '9.2', stdlib: '5.2' },
  };
}

/** GET /pools/default */
export function poolDefault(
  view: ConfigView,
  buckets: readonly ConfigBucket[],
  h: HostOptions,
): Record<string, unknown> {
  const quota = buckets.reduce((a, b) => a + b.ramQuotaMb, 0);
  return {
    name: 'default',
    clusterName: 'tributary',
    balanced: true,
    rebalanceStatus: 'none',
    nodes: configNodes(view).map((n) => fullNode(view, n, h)),
    buckets: {
      uri: `/pools/default/buckets?v=${view.rev}&uuid=${view.clusterUuid}`,
      terseBucketsBase: '/pools/default/b/',
      terseStreamingBucketsBase: '/pools/default/bs/',
    },
    nodeStatusesUri: '/nodeStatuses',
    nodeServicesUri: `/pools/default/nodeServices?uuid=${view.clusterUuid}`,
    controllers: {},
    memoryQuota: Math.max(256, quota),
    indexMemoryQuota: 512,
    ftsMemoryQuota: 512,
    storageTotals: {
      ram: {
        total: 8_589_934_592,
        quotaTotal: quota * 1048576,
        quotaUsed: quota * 1048576,
        used: 0,
        usedByData: 0,
        quotaUsedPerNode: 0,
        quotaTotalPerNode: 0,
      },
      hdd: {
        total: 107_374_182_400,
        quotaTotal: 107_374_182_400,
        used: 0,
        usedByData: 0,
        free: 53_687_091_200,
      },
    },
    rev: view.rev,
    clusterCapabilitiesVer: [1, 0],
    clusterCapabilities: { n1ql: ['enhancedPreparedStatements'] },
  };
}

/** GET /pools/default/nodeServices */
export function nodeServices(view: ConfigView, h: HostOptions): Record<string, unknown> {
  return {
    rev: view.rev,
    nodesExt: nodesExt(view, h),
    clusterCapabilitiesVer: [1, 0],
    clusterCapabilities: { n1ql: ['enhancedPreparedStatements'] },
  };
}

export const ERROR_MAP = JSON.stringify({
  version: 2,
  revision: 1,
  errors: {
    '0': { name: 'SUCCESS', desc: 'Success', attrs: ['success'] },
    '1': { name: 'KEY_ENOENT', desc: 'Not Found', attrs: ['item-only'] },
    '2': { name: 'KEY_EEXISTS', desc: 'key already exists, or CAS mismatch', attrs: ['item-only'] },
    '3': { name: 'E2BIG', desc: 'Value is too big', attrs: ['item-only', 'invalid-input'] },
    '4': { name: 'EINVAL', desc: 'Invalid packet', attrs: ['internal', 'invalid-input'] },
    '5': { name: 'NOT_STORED', desc: 'Not Stored', attrs: ['item-only'] },
    '6': {
      name: 'DELTA_BADVAL',
      desc: 'Existing document not a number',
      attrs: ['item-only', 'invalid-input'],
    },
    '7': {
      name: 'NOT_MY_VBUCKET',
      desc: 'Server which received this command does not own the vBucket',
      attrs: ['fetch-config', 'invalid-input'],
    },
    '8': { name: 'NO_BUCKET', desc: 'Not connected to a bucket', attrs: ['conn-state-invalidated'] },
    '9': { name: 'LOCKED', desc: 'Requested resource is locked', attrs: ['item-locked', 'item-only'] },
    e: { name: 'NOT_LOCKED', desc: 'Requested resource is not locked', attrs: ['item-only'] },
    '1f': {
      name: 'AUTH_STALE',
      desc: 'Reauthentication required',
      attrs: ['conn-state-invalidated', 'auth'],
    },
    '20': { name: 'AUTH_ERROR', desc: 'Authentication failed', attrs: ['conn-state-invalidated', 'auth'] },
    '21': { name: 'AUTH_CONTINUE', desc: 'Continue authentication', attrs: ['special-handling', 'auth'] },
    '22': { name: 'ERANGE', desc: 'Range error', attrs: ['invalid-input'] },
    '23': { name: 'ROLLBACK', desc: 'Rollback required', attrs: ['special-handling'] },
    '24': { name: 'EACCESS', desc: 'No access', attrs: ['support', 'conn-state-invalidated'] },
    '81': { name: 'UNKNOWN_COMMAND', desc: 'Unknown command', attrs: ['support'] },
    '82': { name: 'ENOMEM', desc: 'Out of memory', attrs: ['temp', 'retry-later'] },
    '83': { name: 'NOT_SUPPORTED', desc: 'Not supported', attrs: ['support'] },
    '84': { name: 'EINTERNAL', desc: 'Internal error', attrs: ['internal'] },
    '85': { name: 'EBUSY', desc: 'Server too busy', attrs: ['temp', 'retry-later'] },
    '86': { name: 'ETMPFAIL', desc: 'Temporary failure', attrs: ['temp', 'retry-later'] },
    '88': { name: 'UNKNOWN_COLLECTION', desc: 'Unknown Collection', attrs: ['item-only', 'fetch-config'] },
    '8c': { name: 'UNKNOWN_SCOPE', desc: 'Unknown Scope', attrs: ['item-only', 'fetch-config'] },
    '8d': { name: 'DCP_STREAMID_INVALID', desc: 'Invalid stream-ID', attrs: ['invalid-input'] },
    a0: { name: 'DURABILITY_INVALID_LEVEL', desc: 'Invalid durability level', attrs: ['invalid-input'] },
    a1: { name: 'DURABILITY_IMPOSSIBLE', desc: 'Durability impossible', attrs: ['item-only'] },
    a2: { name: 'SYNC_WRITE_IN_PROGRESS', desc: 'Synchronous write in progress', attrs: ['item-only'] },
    a3: { name: 'SYNC_WRITE_AMBIGUOUS', desc: 'Synchronous write ambiguous', attrs: ['item-only'] },
    ...Object.fromEntries(
      (
        [
          ['c0', 'SUBDOC_PATH_ENOENT', 'Subdoc: Path not does not exist'],
          ['c1', 'SUBDOC_PATH_MISMATCH', 'Subdoc: Path mismatch'],
          ['c2', 'SUBDOC_PATH_EINVAL', 'Subdoc: Invalid path'],
          ['c3', 'SUBDOC_PATH_E2BIG', 'Subdoc: Path too large'],
          ['c4', 'SUBDOC_DOC_E2DEEP', 'Subdoc: Document too deep'],
          ['c5', 'SUBDOC_VALUE_CANTINSERT', 'Subdoc: Cannot insert specified value'],
          ['c6', 'SUBDOC_DOC_NOT_JSON', 'Subdoc: Existing document not JSON'],
          ['c7', 'SUBDOC_NUM_E2BIG', 'Subdoc: Existing number outside valid arithmetic range'],
          ['c8', 'SUBDOC_DELTA_E2BIG', 'Subdoc: Delta outside valid arithmetic range'],
          ['c9', 'SUBDOC_PATH_EEXISTS', 'Subdoc: Document path already exists'],
          ['ca', 'SUBDOC_VALUE_ETOODEEP', 'Subdoc: Inserting value would make document too deep'],
          ['cb', 'SUBDOC_INVALID_COMBO', 'Subdoc: Invalid combination for multi-path command'],
          ['cc', 'SUBDOC_MULTI_PATH_FAILURE', 'Subdoc: One or more paths in a multi-path command failed'],
          [
            'cd',
            'SUBDOC_SUCCESS_DELETED',
            'Subdoc: The operation completed successfully, but operated on a deleted document',
          ],
          ['ce', 'SUBDOC_XATTR_INVALID_FLAG_COMBO', 'Subdoc: Invalid combination of xattrs flags'],
          ['cf', 'SUBDOC_XATTR_INVALID_KEY_COMBO', 'Subdoc: Invalid combination of xattrs keys'],
          ['d0', 'SUBDOC_XATTR_UNKNOWN_MACRO', 'Subdoc: Unknown xattr macro'],
          ['d1', 'SUBDOC_XATTR_UNKNOWN_VATTR', 'Subdoc: Unknown xattr virtual attribute'],
          ['d2', 'SUBDOC_XATTR_CANT_MODIFY_VATTR', 'Subdoc: Cannot modify virtual attributes'],
          [
            'd3',
            'SUBDOC_MULTI_PATH_FAILURE_DELETED',
            'Subdoc: One or more paths in a multi-path command failed on a deleted document',
          ],
          ['d4', 'SUBDOC_INVALID_XATTR_ORDER', 'Subdoc: Invalid XATTR order (xattrs should come first)'],
          ['d5', 'SUBDOC_XATTR_UNKNOWN_VATTR_MACRO', 'Subdoc: The server does not know this virtual macro'],
          ['d6', 'SUBDOC_CAN_ONLY_REVIVE_DELETED_DOCUMENTS', 'Subdoc: Only deleted documents can be revived'],
          [
            'd7',
            'SUBDOC_DELETED_DOCUMENT_CANT_HAVE_VALUE',
            'Subdoc: A deleted document can not have a value',
          ],
        ] as const
      ).map(([code, name, desc]) => [
        code,
        { name, desc, attrs: code === 'cd' ? ['success', 'subdoc'] : ['item-only', 'subdoc'] },
      ]),
    ),
  },
});
