import type { z } from 'zod';
import { ErrPluginOptions } from './errors.js';

/**
 * Builds a `parseOptions` from a zod schema: the first issue becomes TRIB_PLUGIN_OPTIONS naming
 * the field path, so a user sees exactly which option is wrong.
 */
export function optionsParser<S extends z.ZodTypeAny>(
  plugin: string,
  schema: S,
): (input: unknown) => z.output<S> {
  return (input: unknown) => {
    const result = schema.safeParse(input ?? {});
    if (result.success) return result.data;
    const issue = result.error.issues[0]!;
    const path = issue.path.length ? issue.path.join('.') : '(root)';
    throw ErrPluginOptions(plugin, path, issue.message, { details: { issues: result.error.issues } });
  };
}

/** Same idea for plain function options outside the plugin system. */
export function parseOptions<S extends z.ZodTypeAny>(what: string, schema: S, input: unknown): z.output<S> {
  return optionsParser(what, schema)(input);
}
