import type { Logger } from 'pino';
import type { AuthProvider } from './contracts/auth.js';
import type { ConnectionFactory } from './contracts/connection-factory.js';
import type { MetricsScope } from './contracts/metrics.js';
import type { Store } from './contracts/store.js';
import type { PluginRegistry } from './registry.js';

export type PluginKind = 'connection-factory' | 'store' | 'auth';

export interface PluginKindMap {
  'connection-factory': ConnectionFactory;
  store: Store;
  auth: AuthProvider;
}

/** Handed to `create`; injected by the registry, never a module global. */
export interface PluginContext {
  logger: Logger;
  metrics: MetricsScope;
  registry: PluginRegistry;
  signal?: AbortSignal;
}

/** Brand that survives duplicate installs of core, unlike `instanceof`. */
export const PLUGIN_BRAND: unique symbol = Symbol.for('@tributary/plugin') as never;

export interface PluginManifest<K extends PluginKind = PluginKind, O = unknown> {
  readonly kind: K;
  readonly name: string;
  readonly apiVersion: number;
  readonly version?: string;
  /** Validates raw options; throws TRIB_PLUGIN_OPTIONS naming the bad field. */
  parseOptions(input: unknown): O;
  create(options: O, context: PluginContext): PluginKindMap[K] | Promise<PluginKindMap[K]>;
  readonly [PLUGIN_BRAND]: true;
}

export interface PluginDefinition<K extends PluginKind, O> {
  kind: K;
  name: string;
  apiVersion: number;
  version?: string;
  parseOptions(input: unknown): O;
  create(options: NoInfer<O>, context: PluginContext): PluginKindMap[K] | Promise<PluginKindMap[K]>;
}

/** Makes a branded, frozen manifest with its types inferred. */
export function definePlugin<K extends PluginKind, O>(
  definition: PluginDefinition<K, O>,
): PluginManifest<K, O> {
  return Object.freeze({ ...definition, [PLUGIN_BRAND]: true as const });
}

export function isPluginManifest(value: unknown): value is PluginManifest {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PLUGIN_BRAND] === true
  );
}
