/**
 * The contract between the training loop (trainer.ts) and a model kind: the network the loop drives
 * (`RetrievalNet`) and a registry entry that builds it from `ModelConfig` (`ModelKindEntry`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { z } from 'zod';
import type { ForwardContext } from '../backbones';
import type { MetricLoss } from '../losses';
import type { ModelConfig, ModelOutput, ResolvedModelConfig } from '../model';
import type { ParamStore } from '../params';
import type { Rng } from '../rng';

/** Semantic side information: one L2-normalised row per class, in label (manifest) order. */
export interface ClassVectors {
  dim: number;
  /** numClasses x dim, row-major. */
  data: Float32Array;
}

/** What a training forward pass gets besides the input. */
export interface TrainForwardContext {
  /** [N] float domain scalars (sketch 0, photo 1). */
  domain: tf.Tensor1D;
  /** [N] int32 class labels. */
  labels: tf.Tensor1D;
  /** Optimiser steps taken before this one. */
  step: number;
  /** The cell's metric loss (a kind may apply it to features of its own, e.g. synthesised ones). */
  loss: MetricLoss;
}

export interface TrainForwardOutput extends ModelOutput {
  /** Loss terms of the kind itself, weighted and summed; the loop adds it to the metric loss. */
  extraLoss?: tf.Scalar;
  /** The components of `extraLoss` (unweighted), for logging. */
  terms?: Record<string, tf.Scalar>;
}

/** Every effective setting of a network: the shared ones plus `kind` and the kind's own. */
export type ResolvedNetConfig = ResolvedModelConfig & { kind: string } & Record<string, unknown>;

/** The network the training loop drives. Parameters and buffers live in `store` (checkpoints). */
export interface RetrievalNet {
  readonly store: ParamStore;
  /** Forward pass with the tape on: the embedding the metric loss sees, plus the kind's own terms. */
  trainForward(x: tf.Tensor4D, ctx: TrainForwardContext): TrainForwardOutput;
  /** Retrieval features (ctx.training false at test): what embed() returns for each image. */
  forward(x: tf.Tensor4D, ctx: ForwardContext): ModelOutput;
  getConfig(): ResolvedNetConfig;
  dispose(): void;
}

export interface ModelKindEnv {
  /** Initialisation stream (forked from the cell seed). */
  rng: Rng;
  /** The cell seed (kinds that draw per-step noise seed it from (seed, step), resume-safe). */
  seed: number;
  classVectors?: ClassVectors;
  /** The kind's options, parsed by its schema (defaults filled in); {} for a kind without options. */
  options: Record<string, unknown>;
}

/** One registered model kind: one file exporting it plus one line in kinds/registry.ts. */
export interface ModelKindEntry {
  name: string;
  description: string;
  /** The `model.<key>` object holding the kind's options (e.g. 'ssgn'); absent: no options. */
  optionsKey?: string;
  /** zod object of the options, every default inside it (strict: unknown keys are errors). */
  options?: z.AnyZodObject;
  create(cfg: ModelConfig, env: ModelKindEnv): RetrievalNet;
}
