/**
 * Model kinds by name (timm's `register_model`). A kind is one file exporting a `ModelKindEntry` plus
 * one line in KINDS below; its options live under `model.<optionsKey>` and are validated by the
 * entry's zod schema, which holds every default.
 */
import { ConfigIssueError, issueSentence } from '@sbir/core';
import type { ZodIssue } from 'zod';
import { listBlockOptions } from '../blocks/registry';
import { MODEL_SETTING_KEYS, ModelConfig } from '../model';
import { sbirKind } from './sbir';
import { ssgnKind } from './ssgn';
import { ModelKindEntry, ModelKindEnv, RetrievalNet } from './types';

const KINDS = new Map<string, ModelKindEntry>([
  ['sbir', sbirKind],
  ['ssgn', ssgnKind],
]);

export const DEFAULT_MODEL_KIND = 'sbir';

/** Registers a kind; throws on an empty or duplicate name, or an options key another kind uses. */
export function registerModelKind(entry: ModelKindEntry): void {
  if (!entry.name) throw new Error('model kind name must be non-empty');
  if (KINDS.has(entry.name)) throw new Error(`model kind "${entry.name}" is already registered`);
  if (entry.optionsKey && [...KINDS.values()].some((k) => k.optionsKey === entry.optionsKey))
    throw new Error(`model kind "${entry.name}": options key "${entry.optionsKey}" is already in use`);
  if (!entry.optionsKey !== !entry.options)
    throw new Error(`model kind "${entry.name}": optionsKey and options go together`);
  KINDS.set(entry.name, entry);
}

/** Registered kind names, in registration order. */
export function listModelKinds(): string[] {
  return [...KINDS.keys()];
}

/** The entry of kind `name`; fails with 'model.kind: unknown kind "x" (known: ...)'. */
export function getModelKind(name: string): ModelKindEntry {
  const entry = KINDS.get(name);
  if (!entry)
    throw new ConfigIssueError(
      ['model', 'kind'],
      `unknown kind "${String(name)}" (known: ${listModelKinds().join(', ')})`,
    );
  return entry;
}

/** One zod issue of `model.<key>` as an error naming the full key (`model.ssgn.fusionDim: ...`). */
function issueError(key: string, issue: ZodIssue, input: unknown, known: string[]): ConfigIssueError {
  const path = ['model', key, ...issue.path];
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0]!);
  return new ConfigIssueError(
    path,
    issueSentence(issue, input, () => known),
  );
}

/**
 * The options of `cfg.kind`, parsed by its schema with the defaults filled in ({} for a kind without
 * options). Options given under another kind's key are an error naming that key.
 */
export function resolveModelKindOptions(cfg: ModelConfig): Record<string, unknown> {
  const entry = getModelKind(cfg.kind ?? DEFAULT_MODEL_KIND);
  for (const other of KINDS.values()) {
    const key = other.optionsKey;
    if (key && key !== entry.optionsKey && (cfg as unknown as Record<string, unknown>)[key] !== undefined)
      throw new ConfigIssueError(
        ['model', key],
        `options of kind "${other.name}", but model.kind is "${entry.name}"`,
      );
  }
  if (!entry.optionsKey || !entry.options) return {};
  const raw = (cfg as unknown as Record<string, unknown>)[entry.optionsKey] ?? {};
  const parsed = entry.options.safeParse(raw);
  if (!parsed.success) {
    const known = Object.keys(entry.options.shape);
    throw issueError(entry.optionsKey, parsed.error.issues[0]!, raw, known);
  }
  return parsed.data as Record<string, unknown>;
}

/**
 * A key of `cfg` that is no setting (`MODEL_SETTING_KEYS`), no kind's options key and no block's option
 * is an error: the block options travel by name, so a misspelt one would otherwise be ignored.
 */
function checkModelKeys(cfg: ModelConfig): void {
  const known = [
    ...MODEL_SETTING_KEYS,
    ...[...KINDS.values()].flatMap((k) => (k.optionsKey ? [k.optionsKey] : [])),
    ...listBlockOptions().map((o) => o.name),
  ];
  const unknown = Object.keys(cfg).find((k) => !known.includes(k));
  if (unknown !== undefined)
    throw new ConfigIssueError(['model', unknown], `unknown setting (known: ${known.join(', ')})`);
}

/** Builds the network of `cfg.kind` (default 'sbir') with its options resolved. */
export function createModel(cfg: ModelConfig, env: Omit<ModelKindEnv, 'options'>): RetrievalNet {
  checkModelKeys(cfg);
  const entry = getModelKind(cfg.kind ?? DEFAULT_MODEL_KIND);
  return entry.create(cfg, { ...env, options: resolveModelKindOptions(cfg) });
}
