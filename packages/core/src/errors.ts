// Typed errors with stable codes. Codes are never reused once retired; docs/errors.md lists them.
const BRAND = Symbol.for('@tributary/error');

export interface TributaryErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  retriable?: boolean;
}

export class TributaryError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly retriable: boolean;
  readonly [BRAND] = true;

  constructor(code: string, message: string, options: TributaryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TributaryError';
    this.code = code;
    this.details = options.details ?? {};
    this.retriable = options.retriable ?? false;
  }

  override toString(): string {
    return `${this.name} [${this.code}]: ${this.message}`;
  }
}

/** True when `err` is a TributaryError (from any copy of this package), optionally with `code`. */
export function isTributaryError(err: unknown, code?: string): err is TributaryError {
  if (typeof err !== 'object' || err === null || (err as Record<symbol, unknown>)[BRAND] !== true)
    return false;
  return code === undefined || (err as TributaryError).code === code;
}

export interface ErrorFactory<A extends unknown[]> {
  (...args: [...A, TributaryErrorOptions?]): TributaryError;
  readonly code: string;
  is(err: unknown): err is TributaryError;
}

/**
 * Declare an error code once and get a factory for it, as fastify's createError does.
 * `message` builds the text from the factory's arguments.
 */
export function defineError<A extends unknown[] = []>(
  code: string,
  message: (...args: A) => string,
  defaults: { retriable?: boolean } = {},
): ErrorFactory<A> {
  if (!/^TRIB_[A-Z0-9_]+$/.test(code))
    throw new TypeError(`error code must look like TRIB_AREA_WHAT: ${code}`);
  const factory = ((...args: unknown[]) => {
    const n = message.length;
    const last = args.length > n ? (args[n] as TributaryErrorOptions | undefined) : undefined;
    return new TributaryError(code, message(...(args.slice(0, n) as A)), {
      retriable: defaults.retriable,
      ...last,
    });
  }) as unknown as ErrorFactory<A>;
  Object.defineProperty(factory, 'code', { value: code });
  Object.defineProperty(factory, 'is', { value: (err: unknown) => isTributaryError(err, code) });
  return factory;
}

// Codes thrown by @tributary/core itself.
export const ErrPluginInvalid = defineError(
  'TRIB_PLUGIN_INVALID',
  (why: string) => `invalid plugin manifest: ${why}`,
);
export const ErrPluginKind = defineError(
  'TRIB_PLUGIN_KIND',
  (kind: string) => `unknown plugin kind "${kind}" (known: connection-factory, store, auth)`,
);
export const ErrPluginApiVersion = defineError(
  'TRIB_PLUGIN_API_VERSION',
  (plugin: string, found: number, supported: readonly number[]) =>
    `plugin "${plugin}" declares apiVersion ${found}; this registry supports ${supported.join(', ')}`,
);
export const ErrPluginDuplicate = defineError(
  'TRIB_PLUGIN_DUPLICATE',
  (kind: string, name: string) => `a ${kind} plugin named "${name}" is already registered`,
);
export const ErrPluginNotFound = defineError(
  'TRIB_PLUGIN_NOT_FOUND',
  (kind: string, name: string, known: readonly string[]) =>
    `no ${kind} plugin named "${name}" (registered: ${known.length ? known.join(', ') : 'none'})`,
);
export const ErrPluginOptions = defineError(
  'TRIB_PLUGIN_OPTIONS',
  (plugin: string, path: string, why: string) =>
    `invalid options for plugin "${plugin}" at "${path}": ${why}`,
);
export const ErrPluginLoad = defineError(
  'TRIB_PLUGIN_LOAD',
  (specifier: string, why: string) => `cannot load plugin package "${specifier}": ${why}`,
);
export const ErrAborted = defineError('TRIB_ABORTED', (what: string) => `${what} was aborted`);
export const ErrInvalidArgument = defineError(
  'TRIB_INVALID_ARGUMENT',
  (name: string, why: string) => `invalid argument "${name}": ${why}`,
);
// Shared by every connection-factory plugin so applications can match one code whatever the transport.
export const ErrConnectRefused = defineError(
  'TRIB_CONNECT_REFUSED',
  (endpoint: string) => `connection to ${endpoint} refused`,
  { retriable: true },
);
export const ErrConnectTimeout = defineError(
  'TRIB_CONNECT_TIMEOUT',
  (endpoint: string, ms: number) => `connection to ${endpoint} timed out after ${ms} ms`,
  { retriable: true },
);
export const ErrConnectFailed = defineError(
  'TRIB_CONNECT_FAILED',
  (endpoint: string, why: string) => `connection to ${endpoint} failed: ${why}`,
  { retriable: true },
);
// Shared by every auth plugin: one code for every way authentication can fail (no user enumeration).
export const ErrAuthFailed = defineError(
  'TRIB_AUTH_FAILED',
  (why: string) => `authentication failed: ${why}`,
);
export const ErrAuthMechanism = defineError(
  'TRIB_AUTH_MECHANISM',
  (mechanism: string, offered: readonly string[]) =>
    `SASL mechanism "${mechanism}" is not offered (offered: ${offered.join(' ') || 'none'})`,
);
// Shared by every store plugin.
export const ErrStoreUnavailable = defineError(
  'TRIB_STORE_UNAVAILABLE',
  (store: string, why: string) => `store "${store}" is unavailable: ${why}`,
  { retriable: true },
);
export const ErrStoreClosed = defineError(
  'TRIB_STORE_CLOSED',
  (store: string) => `store "${store}" is closed`,
);
export const ErrStoreWatchOverflow = defineError(
  'TRIB_STORE_WATCH_OVERFLOW',
  (store: string, max: number) =>
    `watch on store "${store}" fell behind by more than ${max} distinct keys; rescan and watch again`,
);

// Guarded HTTP listeners (createGuardedHttpServer): the codes carried in their error bodies.
export const ErrHttpTooManyConnections = defineError(
  'TRIB_HTTP_TOO_MANY_CONNECTIONS',
  (max: number) => `too many connections (limit ${max}, or the process's file-descriptor limit); retry later`,
  { retriable: true },
);
export const ErrHttpHandlerFailed = defineError(
  'TRIB_HTTP_HANDLER_FAILED',
  () => 'the request handler failed (details are in the server log)',
);
