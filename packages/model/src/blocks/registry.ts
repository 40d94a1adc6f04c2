/**
 * Channel-attention blocks by name (timm's `get_attn` / `create_attn`). Adding a block (CBAM, ECA, ...)
 * is one file exporting a `BlockEntry` plus one line in BLOCKS below; backbones only see the
 * `AttentionModule` interface, and the trainer's yaml schema reads each entry's options from here.
 */
import { ConfigIssueError, issueSentence, quoteExcerpt } from '@sbir/core';
import { z } from 'zod';
import { daseBlock } from './dase';
import { seBlock } from './se';
import {
  AttentionModule,
  BLOCK_CONTEXT_KEYS,
  BlockContext,
  BlockEntry,
  BlockOptions,
  ResolvedBlockConfig,
} from './types';

const noneBlock: BlockEntry = {
  description: 'no attention block (plain residual units)',
  options: z.object({}).strict(),
  create: () => null,
  // what cells recorded before issue 23: the SE settings as null, no domain-aware stage
  resolve: () => ({ seReduction: null, attnActivation: null, domainAwareStages: [] }),
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- entries differ in their option types
const BLOCKS = new Map<string, BlockEntry<any>>([
  ['none', noneBlock],
  ['se', seBlock],
  ['dase', daseBlock],
]);

/** The default of one option field (undefined when it has none). */
function defaultOf(field: z.ZodTypeAny): unknown {
  const r = field.safeParse(undefined);
  return r.success ? r.data : undefined;
}

/**
 * Registers a block under a new name. Throws on an empty or duplicate name, an option named like a
 * context key, or an option another block declares with a different default (they share one setting).
 */
export function registerBlock<S extends z.AnyZodObject>(name: string, entry: BlockEntry<S>): void {
  if (!name) throw new Error('block name must be non-empty');
  if (BLOCKS.has(name)) throw new Error(`block "${name}" is already registered`);
  for (const [key, field] of Object.entries(entry.options.shape as Record<string, z.ZodTypeAny>)) {
    if (BLOCK_CONTEXT_KEYS.includes(key))
      throw new Error(`block "${name}": option "${key}" is a context key (${BLOCK_CONTEXT_KEYS.join(', ')})`);
    const other = listBlockOptions().find((o) => o.name === key);
    if (other && JSON.stringify(defaultOf(field)) !== JSON.stringify(defaultOf(other.field)))
      throw new Error(`block "${name}": option "${key}" has another default than block "${other.block}"'s`);
  }
  BLOCKS.set(name, entry);
}

/** Registered block names, in registration order. */
export function listBlocks(): string[] {
  return [...BLOCKS.keys()];
}

/** The entry of block `type`; fails with 'model.block: unknown block "x" (known: ...)'. */
export function getBlock(type: string): BlockEntry {
  const entry = BLOCKS.get(type);
  if (!entry)
    throw new ConfigIssueError(
      ['model', 'block'],
      `unknown block ${quoteExcerpt(String(type))} (known: ${listBlocks().join(', ')})`,
    );
  return entry;
}

/** One block option as declared: its name, its zod field and the first block declaring it. */
export interface DeclaredBlockOption {
  name: string;
  field: z.ZodTypeAny;
  block: string;
  /** Whether every cell records it (its block has `recordedForEveryBlock`). */
  recordedForEveryBlock: boolean;
}

/**
 * The options of every registered block, each once (blocks may share one). A block's new option goes
 * right after the option before it in that block's own order (at the end for its first), so every
 * block's order is kept: the order of the yaml schema's keys and of config.json.
 */
export function listBlockOptions(): DeclaredBlockOption[] {
  const out: DeclaredBlockOption[] = [];
  for (const [block, entry] of BLOCKS) {
    const recorded = !!entry.recordedForEveryBlock;
    let after = -1; // index in `out` of this block's previous option
    for (const [name, field] of Object.entries(entry.options.shape as Record<string, z.ZodTypeAny>)) {
      const at = out.findIndex((o) => o.name === name);
      if (at >= 0) {
        out[at]!.recordedForEveryBlock ||= recorded;
        after = at;
        continue;
      }
      const option = { name, field, block, recordedForEveryBlock: recorded };
      if (after < 0) after = out.push(option) - 1;
      else out.splice(++after, 0, option);
    }
  }
  return out;
}

/**
 * The options of block `type` read from `source` by their names (other keys ignored), parsed by the
 * entry's schema with the defaults filled in. A bad value is a ConfigIssueError at `model.<option>`;
 * with `backbone`, the entry's backbone checks run too.
 */
export function parseBlockOptions(
  type: string,
  source: Record<string, unknown>,
  backbone?: { stages: number },
): Record<string, unknown> {
  const entry = getBlock(type);
  const given: Record<string, unknown> = {};
  for (const key of Object.keys(entry.options.shape)) if (source[key] !== undefined) given[key] = source[key];
  const parsed = entry.options.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigIssueError(['model', ...issue.path], issueSentence(issue, given));
  }
  const problem = backbone && entry.check?.(parsed.data, backbone);
  if (problem) throw new ConfigIssueError(['model', ...problem.path], problem.message);
  return parsed.data as Record<string, unknown>;
}

/**
 * Creates the attention block `type` for a feature map with `channels` channels, or null for
 * 'none' / null / undefined (the residual unit then skips it). `opts` is the context plus the block's
 * options; a key that is neither is an error (the options object is strict).
 */
export function createAttn(
  type: string | null | undefined,
  channels: number,
  opts: BlockOptions = {},
): AttentionModule | null {
  if (type === null || type === undefined) return null;
  const { store, name, rng, stage, ...given } = opts;
  const entry = getBlock(type);
  const parsed = entry.options.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    throw new ConfigIssueError(['model', ...path], issueSentence(issue, given));
  }
  const ctx: BlockContext = { store, name, rng, stage };
  return entry.create(channels, ctx, parsed.data);
}

/** The effective settings of block `type` with options `options` (parsed: `parseBlockOptions`). */
export function resolveBlockConfig(type: string, options: Record<string, unknown>): ResolvedBlockConfig {
  const entry = getBlock(type);
  return entry.resolve ? entry.resolve(options) : { ...options };
}

/** A registered block name (`listBlocks()`). */
export type AttnType = string;
