/**
 * cbdatasource's BucketDataSourceStats counter names (all monotonic), the ones that apply to
 * this implementation, plus a few of ours (marked). Reported through @tributary/metrics.
 */
export const STAT_NAMES = [
  'TotStart',
  'TotKick',
  'TotKickDeduped',
  'TotKickOk',
  'TotRefreshCluster',
  'TotRefreshClusterConnectBucket',
  'TotRefreshClusterConnectBucketErr',
  'TotRefreshClusterConnectBucketOk',
  'TotRefreshClusterBucketUUIDErr',
  'TotRefreshClusterVBMNilErr',
  'TotRefreshClusterKickWorkers',
  'TotRefreshClusterKickWorkersClosed',
  'TotRefreshClusterKickWorkersOk',
  'TotRefreshClusterStopped',
  'TotRefreshClusterAwokenClosed',
  'TotRefreshClusterAwokenRestart',
  'TotRefreshClusterAwoken',
  'TotRefreshClusterAllServerURLsConnectBucketErr',
  'TotRefreshClusterDone',
  // ours: pushed configs from the streaming endpoint
  'TotRefreshClusterStreamConfig',
  'TotRefreshClusterStreamConfigErr',
  'TotRefreshWorkers',
  'TotRefreshWorkersVBMNilErr',
  'TotRefreshWorkersVBucketIDErr',
  'TotRefreshWorkersServerIdxsErr',
  'TotRefreshWorkersMasterIdxErr',
  'TotRefreshWorkersMasterServerErr',
  'TotRefreshWorkersRemoveWorker',
  'TotRefreshWorkersAddWorker',
  'TotRefreshWorkersKickWorker',
  'TotRefreshWorkersCloseWorker',
  'TotRefreshWorkersDone',
  'TotWorkerStart',
  'TotWorkerDone',
  'TotWorkerBody',
  'TotWorkerBodyKick',
  'TotWorkerConnect',
  'TotWorkerConnectErr',
  'TotWorkerConnectOk',
  'TotWorkerAuth',
  'TotWorkerAuthErr',
  'TotWorkerAuthFail',
  'TotWorkerAuthOk',
  'TotWorkerUPROpenErr',
  'TotWorkerUPROpenOk',
  'TotWorkerAuthenticateMemcachedConn',
  'TotWorkerAuthenticateMemcachedConnErr',
  'TotWorkerAuthenticateMemcachedConnOk',
  'TotWorkerClientClose',
  'TotWorkerClientCloseDone',
  'TotWorkerTransmit',
  'TotWorkerTransmitErr',
  'TotWorkerTransmitOk',
  'TotWorkerReceive',
  'TotWorkerReceiveErr',
  'TotWorkerReceiveOk',
  'TotWorkerHandleRecv',
  'TotWorkerHandleRecvErr',
  'TotWorkerHandleRecvOk',
  'TotWorkerCleanup',
  'TotWorkerCleanupDone',
  // ours: a malformed frame closed the connection
  'TotWorkerBadFrame',
  'TotRefreshWorker',
  'TotRefreshWorkerDone',
  'TotRefreshWorkerOk',
  'TotUPRDataChange',
  'TotUPRDataChangeStateErr',
  'TotUPRDataChangeMutation',
  'TotUPRDataChangeDeletion',
  'TotUPRDataChangeExpiration',
  'TotUPRDataChangeErr',
  'TotUPRDataChangeOk',
  'TotUPRCloseStream',
  'TotUPRCloseStreamRes',
  'TotUPRCloseStreamResStateErr',
  'TotUPRCloseStreamResErr',
  'TotUPRCloseStreamResOk',
  'TotUPRStreamReq',
  'TotUPRStreamReqWant',
  'TotUPRStreamReqRes',
  'TotUPRStreamReqResStateErr',
  'TotUPRStreamReqResFail',
  'TotUPRStreamReqResFailNotMyVBucket',
  'TotUPRStreamReqResFailERange',
  'TotUPRStreamReqResFailENoMem',
  'TotUPRStreamReqResRollback',
  'TotUPRStreamReqResRollbackStart',
  'TotUPRStreamReqResRollbackErr',
  'TotUPRStreamReqResWantAfterRollbackErr',
  'TotUPRStreamReqResKick',
  'TotUPRStreamReqResSuccess',
  'TotUPRStreamReqResSuccessOk',
  'TotUPRStreamReqResFLogErr',
  'TotUPRStreamEnd',
  'TotUPRStreamEndStateErr',
  'TotUPRStreamEndKick',
  'TotUPRSnapshot',
  'TotUPRSnapshotStateErr',
  'TotUPRSnapshotStart',
  'TotUPRSnapshotStartErr',
  'TotUPRSnapshotOk',
  'TotUPRNoop',
  'TotUPRControl',
  'TotUPRControlErr',
  'TotUPRBufferAck',
  // ours: bytes acknowledged, and messages counted for flow control
  'TotUPRBufferAckBytes',
  'TotUPRSeqnoAdvanced',
  'TotUPRSystemEvent',
  'TotWantCloseRequestedVBucketErr',
  'TotWantClosingVBucketErr',
  'TotSelectBucketErr',
  'TotHandShakeErr',
  'TotGetVBucketMetaData',
  'TotGetVBucketMetaDataUnmarshalErr',
  'TotGetVBucketMetaDataErr',
  'TotGetVBucketMetaDataOk',
  'TotSetVBucketMetaData',
  'TotSetVBucketMetaDataMarshalErr',
  'TotSetVBucketMetaDataErr',
  'TotSetVBucketMetaDataOk',
  'TotPingTimeout',
  'TotPingReq',
  'TotPingReqDone',
  // ours: GET_ALL_VB_SEQNOS polls for lag
  'TotSeqnosReq',
  'TotSeqnosReqDone',
] as const;

export type StatName = (typeof STAT_NAMES)[number];

export type VBucketStateName = '' | 'requested' | 'running' | 'closing';

export interface VBucketStats {
  readonly vbucket: number;
  readonly state: VBucketStateName;
  /** Server ("host:port") streaming it, or '' when none. */
  readonly server: string;
  /** The data node ("host:port") the cluster map makes its active, streaming or not ('' before a map). */
  readonly node: string;
  /** Last seqno the receiver finished. */
  readonly lastSeq: number;
  /** The cluster's high seqno: the latest GET_ALL_VB_SEQNOS, raised by snapshot markers' ends (0 until known). */
  readonly highSeqno: number;
  /** highSeqno − lastSeq, never negative: a stalled vbucket shows here. */
  readonly lag: number;
  /**
   * Seconds since the producer had a seqno the receiver has not finished (0 when caught up): when
   * the seqno poll or a snapshot marker first showed it, so within a poll interval.
   */
  readonly lagSeconds: number;
  readonly snapStart: number;
  readonly snapEnd: number;
  readonly vbucketUuid: string;
  /** Receiver calls waiting behind a pending promise on this vbucket. */
  readonly queued: number;
}

/** What stats() returns: an immutable snapshot. Counters are cbdatasource's `Tot*` names. */
export type BucketDataSourceStats = Readonly<Record<StatName, number>> & {
  readonly vbuckets: readonly VBucketStats[];
  /** Sum and maximum of the per-vbucket lag. */
  readonly lagTotal: number;
  readonly lagMax: number;
  /** Bytes delivered but not yet acknowledged, over all connections. */
  readonly unackedBytes: number;
  readonly workers: readonly {
    readonly server: string;
    readonly connected: boolean;
    readonly vbuckets: number;
  }[];
};
