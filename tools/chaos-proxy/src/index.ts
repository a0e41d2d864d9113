export {
  type ChaosMode,
  ChaosProxy,
  type ChaosProxyOptions,
  type ChaosStats,
  startChaosProxy,
} from './chaos-proxy.js';
