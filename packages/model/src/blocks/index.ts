export {
  createAttn,
  getBlock,
  listBlockOptions,
  listBlocks,
  parseBlockOptions,
  registerBlock,
  resolveBlockConfig,
} from './registry';
export type { AttnType, DeclaredBlockOption } from './registry';
export { SEModule, SeOptionsSchema, DEFAULT_SE_REDUCTION, DEFAULT_ATTN_ACTIVATION } from './se';
export type { SEBlockArgs, SeOptions } from './se';
export { DaseOptionsSchema, DEFAULT_DOMAIN_AWARE_STAGES } from './dase';
export type { DaseOptions } from './dase';
export { ATTN_ACTIVATIONS } from './types';
export type {
  AttentionModule,
  AttnActivation,
  BlockContext,
  BlockEntry,
  BlockOptions,
  ResolvedBlockConfig,
} from './types';
