/** The retrieval network: backbone + embedding head + optional binary-code head. */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import {
  ForwardContext,
  ResNetBackbone,
  ResolvedBackboneArch,
  createBackbone,
  getBackboneSpec,
} from './backbones';
import { parseBlockOptions } from './blocks/registry';
import type { ResolvedBlockConfig } from './blocks/types';
import { dense, detach } from './ops';
import { ParamStore, linearInit } from './params';
import { Rng } from './rng';
import { readTensorFile } from './tensorfile';
import {
  PRETRAINED_INITS,
  PretrainedInit,
  PretrainedReport,
  loadPretrained,
  missingPretrainedMessage,
} from './import/pretrained';

export interface ModelConfig {
  /** A registered model kind (`listModelKinds()`, kinds/registry.ts). Default 'sbir'. */
  kind?: string;
  /** SSGN's options (`model.kind: ssgn`), validated and defaulted by its zod schema (kinds/ssgn.ts). */
  ssgn?: Record<string, unknown>;
  /** Registered backbone name (`listBackbones()`). */
  backbone: string;
  /** A registered attention block (`listBlocks()`) in every residual unit. */
  block: string;
  /** Base width (stage-1 planes); 0 = the backbone's default. */
  width: number;
  /** Side of the square network input; batches of another size are resized (bilinear). */
  inputSize: number;
  embeddingDim: number;
  /** Bits of the binary-code head (tanh relaxation in training, sign at test); absent = no head. */
  hashBits?: number;
  numClasses: number;
  /** Local named-tensor file (manifest .json, see tensorfile.ts) with backbone weights to start from. */
  weightsFile?: string;
  /** Folder written by `model:import` (a published checkpoint mapped onto this backbone). */
  pretrained?: string;
  /** What `pretrained` leaves unfilled (import/pretrained.ts): 'authors' (default: size mismatches
   *  such as the DASE fc2 keep their random init) or 'copy-zero-domain'. */
  pretrainedInit?: PretrainedInit;
  /** Stop the code head's gradient at the embedding (default true): the code head then learns a
   *  map of the embedding without changing it, so the embedding ablation is unaffected. */
  hashDetach?: boolean;
  /**
   * The block's options under their yaml names (`seReduction`, `attnActivation`, `domainAwareStages`,
   * or a registered block's own): each block entry's zod schema declares them with their defaults.
   */
  [blockOption: string]: unknown;
}

/** The settings of `ModelConfig` itself; the other keys are the kinds' options objects and the blocks' options. */
export const MODEL_SETTING_KEYS: readonly string[] = [
  'kind',
  'backbone',
  'block',
  'width',
  'inputSize',
  'embeddingDim',
  'hashBits',
  'numClasses',
  'weightsFile',
  'pretrained',
  'pretrainedInit',
  'hashDetach',
];

/** The backbone a model config names, with its block settings (every model kind builds it so). */
export function backboneOf(cfg: ModelConfig, store: ParamStore, rng: Rng): ResNetBackbone {
  // the block picks its options from the config by name (blocks/registry.ts parseBlockOptions)
  return createBackbone({
    name: cfg.backbone,
    width: cfg.width,
    block: cfg.block,
    blockOptions: cfg,
    store,
    rng,
  });
}

export function validateModelConfig(cfg: ModelConfig): void {
  const posInt = (v: unknown, key: string): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new Error(`model.${key}: expected a positive integer, got ${JSON.stringify(v)}`);
    }
  };
  const spec = getBackboneSpec(cfg.backbone);
  // the block's name and options: its registry entry checks them (one place)
  parseBlockOptions(cfg.block, cfg, { stages: spec.layers.length });
  if (cfg.width !== 0) posInt(cfg.width, 'width');
  posInt(cfg.inputSize, 'inputSize');
  posInt(cfg.embeddingDim, 'embeddingDim');
  posInt(cfg.numClasses, 'numClasses');
  if (cfg.hashBits !== undefined) posInt(cfg.hashBits, 'hashBits');
  if (cfg.weightsFile !== undefined && !fs.existsSync(cfg.weightsFile)) {
    throw new Error(`model.weightsFile: ${cfg.weightsFile} does not exist`);
  }
  if (cfg.pretrained !== undefined && !fs.existsSync(cfg.pretrained)) {
    throw new Error(missingPretrainedMessage(cfg.pretrained, cfg.backbone));
  }
  if (cfg.pretrainedInit !== undefined && !PRETRAINED_INITS.includes(cfg.pretrainedInit)) {
    throw new Error(
      `model.pretrainedInit: unknown "${String(cfg.pretrainedInit)}" (known: ${PRETRAINED_INITS.join(', ')})`,
    );
  }
}

/** Every effective setting of the network (config.json records it): backbone and block settings
 *  with defaults filled in, and the heads. */
export interface ResolvedModelConfig extends Omit<ResolvedBackboneArch, 'name'>, ResolvedBlockConfig {
  backbone: string;
  inputSize: number;
  embeddingDim: number;
  hashBits: number | null;
  hashDetach: boolean;
  numClasses: number;
  weightsFile: string | null;
  pretrained: string | null;
  pretrainedInit: PretrainedInit | null;
  /** What `pretrained` loaded and every tensor it did not, with the reason (null without it). */
  pretrainedLoad: PretrainedReport | null;
}

export interface ModelOutput {
  embedding: tf.Tensor2D;
  /** Pre-activation code logits [N, hashBits] (tanh in training, sign at test). */
  hashLogits?: tf.Tensor2D;
}

export class SbirNet {
  readonly cfg: ModelConfig;
  readonly store = new ParamStore();
  readonly backbone: ResNetBackbone;
  private readonly embedW: tf.Variable;
  private readonly embedB: tf.Variable;
  private readonly hashW: tf.Variable | null = null;
  private readonly hashB: tf.Variable | null = null;
  /** Result of loading `cfg.pretrained` (null without it). */
  readonly pretrainedReport: PretrainedReport | null = null;

  constructor(cfg: ModelConfig, rng: Rng) {
    validateModelConfig(cfg);
    this.cfg = cfg;
    this.backbone = backboneOf(cfg, this.store, rng);
    const e = linearInit(rng, this.backbone.outChannels, cfg.embeddingDim);
    this.embedW = this.store.addParam('head.embed.weight', e.w);
    this.embedB = this.store.addParam('head.embed.bias', e.b);
    if (cfg.hashBits) {
      const h = linearInit(rng, cfg.embeddingDim, cfg.hashBits);
      this.hashW = this.store.addParam('head.hash.weight', h.w);
      this.hashB = this.store.addParam('head.hash.bias', h.b);
    }
    if (cfg.pretrained) {
      this.pretrainedReport = loadPretrained(this.store, cfg.pretrained, cfg.backbone, cfg.pretrainedInit);
    }
    if (cfg.weightsFile) this.loadWeights(cfg.weightsFile);
  }

  getConfig(): ResolvedModelConfig {
    return resolvedModelConfig(this.cfg, this.backbone, this.pretrainedReport);
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): ModelOutput {
    const pooled = this.backbone.forward(x, ctx);
    const embedding = dense(pooled, this.embedW as tf.Tensor2D, this.embedB as tf.Tensor1D);
    if (!this.hashW || !this.hashB) return { embedding };
    const src = this.cfg.hashDetach === false ? embedding : detach(embedding);
    const hashLogits = dense(src as tf.Tensor2D, this.hashW as tf.Tensor2D, this.hashB as tf.Tensor1D);
    return { embedding, hashLogits };
  }

  /**
   * Copies tensors from a named-tensor file into parameters and buffers of the same name and shape
   * (`loadWeightsInto`); returns the model tensors the file did not have.
   */
  loadWeights(file: string): { loaded: string[]; missing: string[] } {
    return loadWeightsInto(this.store, file, this.cfg.backbone);
  }

  dispose(): void {
    this.store.dispose();
  }
}

/** The network settings every kind shares (backbone, heads, weights), as `SbirNet.getConfig()`. */
export function resolvedModelConfig(
  cfg: ModelConfig,
  backbone: ResNetBackbone,
  pretrainedLoad: PretrainedReport | null,
): ResolvedModelConfig {
  const { name, ...arch } = backbone.getConfig();
  return {
    backbone: name,
    ...arch,
    inputSize: cfg.inputSize,
    embeddingDim: cfg.embeddingDim,
    hashBits: cfg.hashBits ?? null,
    hashDetach: cfg.hashBits ? cfg.hashDetach !== false : false,
    numClasses: cfg.numClasses,
    weightsFile: cfg.weightsFile ?? null,
    pretrained: cfg.pretrained ?? null,
    pretrainedInit: cfg.pretrained ? (cfg.pretrainedInit ?? 'authors') : null,
    pretrainedLoad,
  };
}

/**
 * Copies tensors from a named-tensor file into parameters and buffers of the same name and shape.
 * Names not present in the store are an error (listing a few); store tensors missing from the file
 * keep their initial values and are returned.
 */
export function loadWeightsInto(
  store: ParamStore,
  file: string,
  modelName: string,
): { loaded: string[]; missing: string[] } {
  const { tensors } = readTensorFile(file);
  const loaded: string[] = [];
  const unknown: string[] = [];
  for (const [name, t] of tensors) {
    const v = store.params.get(name) ?? store.buffers.get(name);
    if (!v) {
      unknown.push(name);
      continue;
    }
    if (v.shape.join(',') !== t.shape.join(',')) {
      throw new Error(
        `${file}: tensor "${name}" has shape [${t.shape.join(', ')}], model expects [${v.shape.join(', ')}]`,
      );
    }
    const value = tf.tensor(t.data, t.shape, t.dtype);
    v.assign(value);
    value.dispose();
    loaded.push(name);
  }
  if (unknown.length > 0) {
    throw new Error(
      `${file}: ${unknown.length} tensor(s) not in model ${modelName}, e.g. ${unknown.slice(0, 3).join(', ')}`,
    );
  }
  const missing = [...store.params.keys(), ...store.buffers.keys()].filter((n) => !tensors.has(n));
  return { loaded, missing };
}
