import type { PluginKind } from './plugin-manifest.js';

/** The plugin API versions this registry accepts, per kind. Version 1 is the contract in contracts/. */
export const SUPPORTED_API_VERSIONS: Readonly<Record<PluginKind, readonly number[]>> = Object.freeze({
  'connection-factory': Object.freeze([1]),
  store: Object.freeze([1]),
  auth: Object.freeze([1]),
});

export const PLUGIN_KINDS: readonly PluginKind[] = Object.freeze(['connection-factory', 'store', 'auth']);
