import { PLUGIN_KINDS, SUPPORTED_API_VERSIONS } from './api-versions.js';
import {
  ErrPluginApiVersion,
  ErrPluginDuplicate,
  ErrPluginInvalid,
  ErrPluginKind,
  ErrPluginLoad,
  ErrPluginNotFound,
} from './errors.js';
import { resolvePackage } from './internal/resolve-package.js';
import { componentLogger } from './logger.js';
import { nullMetrics } from './null-metrics.js';
import {
  isPluginManifest,
  type PluginContext,
  type PluginKind,
  type PluginKindMap,
  type PluginManifest,
} from './plugin-manifest.js';

export interface PluginRegistry {
  register(manifest: PluginManifest<any, any>): void;
  get<K extends PluginKind>(kind: K, name: string): PluginManifest<K, unknown>;
  has(kind: PluginKind, name: string): boolean;
  list(kind?: PluginKind): PluginManifest[];
  create<K extends PluginKind>(
    kind: K,
    name: string,
    options?: unknown,
    context?: Partial<PluginContext>,
  ): Promise<PluginKindMap[K]>;
  /**
   * Imports a plugin package (resolved from `from`, default the process's working directory, as
   * an application would) and registers every manifest in its named export `plugins` (or `plugin`).
   * Returns the manifests registered.
   */
  load(specifier: string, options?: { from?: string }): Promise<PluginManifest[]>;
}

export interface CreateRegistryOptions {
  /** Defaults passed to every plugin's create(). */
  context?: Partial<Omit<PluginContext, 'registry'>>;
  /** Manifests to register at once. */
  plugins?: readonly PluginManifest<any, any>[];
}

export function createRegistry(options: CreateRegistryOptions = {}): PluginRegistry {
  const byKind = new Map<PluginKind, Map<string, PluginManifest>>(PLUGIN_KINDS.map((k) => [k, new Map()]));

  const registry: PluginRegistry = {
    register(manifest) {
      // fastify's order: shape, kind, apiVersion, duplicate.
      if (!isPluginManifest(manifest)) throw ErrPluginInvalid('not made by definePlugin() (brand missing)');
      if (typeof manifest.name !== 'string' || manifest.name.length === 0)
        throw ErrPluginInvalid('name must be a non-empty string');
      if (typeof manifest.create !== 'function' || typeof manifest.parseOptions !== 'function') {
        throw ErrPluginInvalid(`plugin "${manifest.name}" lacks create() or parseOptions()`);
      }
      const kinds = byKind.get(manifest.kind);
      if (!kinds) throw ErrPluginKind(String(manifest.kind));
      const supported = SUPPORTED_API_VERSIONS[manifest.kind];
      if (!supported.includes(manifest.apiVersion)) {
        throw ErrPluginApiVersion(manifest.name, manifest.apiVersion, supported, {
          details: { plugin: manifest.name, found: manifest.apiVersion, supported },
        });
      }
      if (kinds.has(manifest.name)) throw ErrPluginDuplicate(manifest.kind, manifest.name);
      kinds.set(manifest.name, manifest);
    },

    get(kind, name) {
      const kinds = byKind.get(kind);
      if (!kinds) throw ErrPluginKind(String(kind));
      const found = kinds.get(name);
      if (!found) throw ErrPluginNotFound(kind, name, [...kinds.keys()]);
      return found as PluginManifest<typeof kind, unknown>;
    },

    has(kind, name) {
      return byKind.get(kind)?.has(name) ?? false;
    },

    list(kind) {
      if (kind === undefined) return [...byKind.values()].flatMap((m) => [...m.values()]);
      const kinds = byKind.get(kind);
      if (!kinds) throw ErrPluginKind(String(kind));
      return [...kinds.values()];
    },

    async create(kind, name, rawOptions, context = {}) {
      const manifest = registry.get(kind, name);
      const parsed = manifest.parseOptions(rawOptions);
      const frozen = typeof parsed === 'object' && parsed !== null ? Object.freeze(parsed) : parsed;
      const base = { ...options.context, ...context };
      const ctx: PluginContext = {
        logger: componentLogger(base.logger, kind, { plugin: name }),
        metrics: base.metrics ?? nullMetrics(),
        registry,
        signal: base.signal,
      };
      return (await manifest.create(frozen, ctx)) as PluginKindMap[typeof kind];
    },

    async load(specifier, loadOptions = {}) {
      let mod: Record<string, unknown>;
      const from = loadOptions.from ?? process.cwd();
      try {
        // Resolve from the application (as pino resolves transports from the caller), not from core.
        const target = resolvePackage(specifier, from);
        mod = await import(target);
      } catch (err) {
        throw ErrPluginLoad(specifier, (err as Error).message, { cause: err });
      }
      const list = mod.plugins ?? (mod.plugin ? [mod.plugin] : undefined);
      if (!Array.isArray(list) || list.length === 0) {
        throw ErrPluginLoad(
          specifier,
          'it has no named export "plugins" (an array of manifests) or "plugin"',
        );
      }
      for (const manifest of list) registry.register(manifest as PluginManifest);
      return list as PluginManifest[];
    },
  };

  for (const p of options.plugins ?? []) registry.register(p);
  return registry;
}
