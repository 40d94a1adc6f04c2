/**
 * An adapter's own options, declared once as a zod object in the adapter's file: each field says its
 * type, its description and (where it has one) its default. `prepareDataset` checks the values against
 * it and the data CLI derives its yargs options from it, so a new option touches one file.
 *
 * The fields are built with `adapterOption.*`: their zod messages are the "expected ..." text of
 * `messages.badOption`, so a bad value is the one-line `option --<flag>: expected <what>, got <value>`.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { badOptionError, optionFlag } from '../errors';
import type { AdapterOptions, AdapterOptionsSchema, CommonAdapterOptions } from '../types';

/** zod's messages for every check of one field: the text after "expected". */
function expecting(what: string) {
  return { errorMap: () => ({ message: what }) };
}

export const adapterOption = {
  /** A positive integer, no default (the adapter states what absent means in `description`). */
  positiveInt: (description: string) =>
    z.number(expecting('a positive integer')).int().min(1).optional().describe(description),
  /** A folder given on the command line; resolved against the working directory. */
  dir: (description: string) =>
    z
      .string(expecting('a directory path'))
      .min(1)
      .transform((p) => path.resolve(p))
      .optional()
      .describe(description),
  /** A folder name inside the dataset (not resolved). */
  name: (description: string, defaultValue: string) =>
    z.string(expecting('a folder name')).min(1).default(defaultValue).describe(description),
  /** One of a closed list of values. */
  choice: <const T extends string>(values: readonly [T, ...T[]], description: string, defaultValue: T) =>
    z
      .enum(values as [T, ...T[]], expecting(listChoices(values)))
      .default(defaultValue)
      .describe(description),
  /** An on/off switch, no default (absent = off; the adapter states it in `description`). */
  flag: (description: string) => z.boolean(expecting('true or false')).optional().describe(description),
  /** A positive integer with a default. */
  positiveIntWithDefault: (description: string, defaultValue: number) =>
    z.number(expecting('a positive integer')).int().min(1).default(defaultValue).describe(description),
};

/** `a, b or c` */
function listChoices(values: readonly string[]): string {
  return values.length > 1 ? `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}` : values[0];
}

export { optionFlag };

/** Checks one value against its field; a bad one is a one-line DataError naming the flag. */
function checkValue(field: z.ZodTypeAny, name: string, value: unknown): unknown {
  const r = field.safeParse(value);
  if (!r.success) throw badOptionError(name, r.error.issues[0]!.message, value);
  return r.data;
}

/**
 * The values given for `schema`'s options, checked and normalised (folders resolved), without defaults:
 * what the manifest records is what was asked for. Keys `schema` does not declare are left out.
 */
export function checkAdapterOptions(
  schema: AdapterOptionsSchema,
  given: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema.shape)) {
    if (given[name] !== undefined) out[name] = checkValue(field, name, given[name]);
  }
  return out;
}

/** What an adapter's scan reads: the common options plus its own, checked, with their defaults. */
export function readAdapterOptions<S extends AdapterOptionsSchema>(
  schema: S,
  opts: AdapterOptions,
): CommonAdapterOptions & z.output<S> {
  const own: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema.shape)) own[name] = checkValue(field, name, opts[name]);
  return { ...opts, ...own } as CommonAdapterOptions & z.output<S>;
}

/** How an option looks on the command line, read off its zod field. */
export interface OptionShape {
  type: 'string' | 'number' | 'boolean';
  choices?: string[];
  description: string;
  defaultValue?: unknown;
}

export function optionShape(field: z.ZodTypeAny): OptionShape {
  const description = field.description ?? '';
  let defaultValue: unknown;
  let t: z.ZodTypeAny = field;
  for (;;) {
    if (t instanceof z.ZodDefault) defaultValue = t._def.defaultValue();
    if (t instanceof z.ZodOptional || t instanceof z.ZodDefault || t instanceof z.ZodNullable)
      t = t._def.innerType;
    else if (t instanceof z.ZodEffects) t = t._def.schema;
    else break;
  }
  if (t instanceof z.ZodEnum)
    return { type: 'string', choices: [...(t.options as string[])], description, defaultValue };
  if (t instanceof z.ZodString) return { type: 'string', description, defaultValue };
  if (t instanceof z.ZodNumber) return { type: 'number', description, defaultValue };
  if (t instanceof z.ZodBoolean) return { type: 'boolean', description, defaultValue };
  throw new Error(`adapter option type ${t._def.typeName} has no command-line form (use adapterOption.*)`);
}
