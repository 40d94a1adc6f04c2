/** The contract between residual units and channel-attention blocks (timm's `create_attn` pattern). */
import type * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from '../params';
import type { Rng } from '../rng';

export type HiddenActivation = 'relu' | 'sigmoid';
export const HIDDEN_ACTIVATIONS: readonly HiddenActivation[] = ['relu', 'sigmoid'];

/** A module that re-weights a feature map; residual units call it after their last BatchNorm. */
export interface AttentionModule {
  readonly channels: number;
  /**
   * @param x NHWC feature map.
   * @param domain [N] domain scalars (sketch 0, photo 1); blocks that ignore the domain ignore it.
   * @param opts.forcePlain plain tfjs ops even on the native backend (tests).
   */
  apply(x: tf.Tensor4D, domain?: tf.Tensor, opts?: { forcePlain?: boolean }): tf.Tensor4D;
  getConfig(): Record<string, unknown>;
}

/** Settings a backbone passes to every block; a block reads those it needs. */
export interface BlockOptions {
  /** Where to register parameters; a private store is created when omitted. */
  store?: ParamStore;
  /** Parameter name prefix, e.g. `backbone.layer1.0.se_module`. */
  name?: string;
  /** Initialisation generator (default seed 0). */
  rng?: Rng;
  /** Reduction ratio r of squeeze-excite blocks (hidden width max(1, floor(C / r))). Default 16. */
  reduction?: number;
  /** Hidden activation of squeeze-excite blocks. Default 'sigmoid' (the authors' se_module.py). */
  hiddenActivation?: HiddenActivation;
  /** 1-based stage of the residual unit that holds the block. */
  stage?: number;
  /** 1-based stages whose blocks see the domain (domain-aware blocks). Default [1, 2, 3]. */
  domainAwareStages?: number[];
}

/** One registered block: how to build it and which settings it resolves (recorded in config.json). */
export interface BlockEntry {
  /** Builds the block for a feature map of `channels` channels, or null when the unit skips it. */
  create(channels: number, opts: BlockOptions): AttentionModule | null;
  /** Every setting of this block that shapes the network, with defaults filled in. */
  resolve(opts: BlockOptions): ResolvedBlockConfig;
}

/** Effective attention settings of a model (null: the block has no such setting). */
export interface ResolvedBlockConfig {
  seReduction: number | null;
  attnActivation: HiddenActivation | null;
  /** Stages whose blocks take the domain input ([] when no block does). */
  domainAwareStages: number[];
}
