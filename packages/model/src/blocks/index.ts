export { createAttn, registerBlock, listBlocks, resolveBlockConfig, ATTN_TYPES } from './registry';
export type { AttnType } from './registry';
export { SEModule, DEFAULT_SE_REDUCTION, DEFAULT_HIDDEN_ACTIVATION } from './se';
export type { SEBlockArgs } from './se';
export { DEFAULT_DOMAIN_AWARE_STAGES } from './dase';
export { HIDDEN_ACTIVATIONS } from './types';
export type {
  AttentionModule,
  BlockEntry,
  BlockOptions,
  HiddenActivation,
  ResolvedBlockConfig,
} from './types';
