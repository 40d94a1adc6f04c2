/** The contract between residual units and channel-attention blocks (timm's `create_attn` pattern). */
import type * as tf from '@tensorflow/tfjs-core';
import type { ConfigIssue } from '@sbir/core';
import type { z } from 'zod';
import type { ParamStore } from '../params';
import type { Rng } from '../rng';

export type AttnActivation = 'relu' | 'sigmoid';
export const ATTN_ACTIVATIONS: readonly AttnActivation[] = ['relu', 'sigmoid'];

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

/** Where a block is built: what a backbone passes besides the block's own options (a type, so that
 *  it passes as `BlockOptions`). */
export type BlockContext = {
  /** Where to register parameters; a private store is created when omitted. */
  store?: ParamStore;
  /** Parameter name prefix, e.g. `backbone.layer1.0.se_module`. */
  name?: string;
  /** Initialisation generator (default seed 0). */
  rng?: Rng;
  /** 1-based stage of the residual unit that holds the block (undefined: built outside a backbone). */
  stage?: number;
};

/** The keys of `BlockContext`: a block option may not take one of these names. */
export const BLOCK_CONTEXT_KEYS: readonly string[] = ['store', 'name', 'rng', 'stage'];

/** What `createAttn` takes: the context plus the block's options under their yaml names (`seReduction`). */
export type BlockOptions = BlockContext & Record<string, unknown>;

/**
 * One registered block: one file exporting it plus one line in blocks/registry.ts. Its options are the
 * yaml's `model.<option>` settings; `options` holds every one with its default (nowhere else).
 */
export interface BlockEntry<S extends z.AnyZodObject = z.AnyZodObject> {
  /** One line for the docs and error messages. */
  description: string;
  /** strict zod object of the block's options, every default inside it. */
  options: S;
  /**
   * The options' defaults go into every cell's config.json, whichever block the cell uses. Only `se`
   * and `dase` set it: cells recorded their options so before issue 23, and their ids depend on it.
   */
  recordedForEveryBlock?: boolean;
  /** Builds the block for a feature map of `channels` channels, or null when the unit skips it. */
  create(channels: number, ctx: BlockContext, options: z.output<S>): AttentionModule | null;
  /** config.json's resolved settings of this block (default: its parsed options). */
  resolve?(options: z.output<S>): ResolvedBlockConfig;
  /** Checks that need the backbone (its number of stages); the issue's path is the option's. */
  check?(options: z.output<S>, backbone: { stages: number }): ConfigIssue | null;
}

/** Effective settings of a model's block (config.json `resolved.model`), defaults filled in. */
export type ResolvedBlockConfig = Record<string, unknown>;
