/**
 * Channel-attention blocks by name (timm's `get_attn` / `create_attn`). Adding a block (CBAM, ECA, ...)
 * is one file exporting a `BlockEntry` plus one line in BLOCKS below; backbones only see the
 * `AttentionModule` interface.
 */
import { daseBlock } from './dase';
import { seBlock } from './se';
import { AttentionModule, BlockEntry, BlockOptions, ResolvedBlockConfig } from './types';

const noneBlock: BlockEntry = {
  create: () => null,
  resolve: () => ({ seReduction: null, attnActivation: null, domainAwareStages: [] }),
};

const BLOCKS = new Map<string, BlockEntry>([
  ['none', noneBlock],
  ['se', seBlock],
  ['dase', daseBlock],
]);

/** Registers a block under a new name; throws on an empty or duplicate name. */
export function registerBlock(name: string, entry: BlockEntry): void {
  if (!name) throw new Error('block name must be non-empty');
  if (BLOCKS.has(name)) throw new Error(`block "${name}" is already registered`);
  BLOCKS.set(name, entry);
}

/** Registered block names, in registration order. */
export function listBlocks(): string[] {
  return [...BLOCKS.keys()];
}

function getBlock(type: string): BlockEntry {
  const entry = BLOCKS.get(type);
  if (!entry) throw new Error(`unknown attention block "${type}" (known: ${listBlocks().join(', ')})`);
  return entry;
}

/**
 * Creates the attention block `type` for a feature map with `channels` channels, or null for
 * 'none' / null / undefined (the residual unit then skips it).
 */
export function createAttn(
  type: string | null | undefined,
  channels: number,
  opts: BlockOptions = {},
): AttentionModule | null {
  if (type === null || type === undefined) return null;
  return getBlock(type).create(channels, opts);
}

/** The effective settings of block `type` under `opts` (defaults filled in). */
export function resolveBlockConfig(type: string, opts: BlockOptions = {}): ResolvedBlockConfig {
  return getBlock(type).resolve(opts);
}

/** Block names registered by this package (the `model.block` ids a yaml may use). */
export const ATTN_TYPES: readonly string[] = listBlocks();
/** A registered block name (`listBlocks()`). */
export type AttnType = string;
