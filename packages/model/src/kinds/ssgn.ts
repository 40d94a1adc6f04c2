/**
 * Kind `ssgn`: Stacked Semantic-Guided Network for zero-shot SBIR (Wang et al., arXiv 1904.01971),
 * built from its abstract (no code or full text is public; README "SSGN (zero-shot)" lists every
 * choice made here and its alternative).
 *
 * - Extractor: the configured backbone + block; each stage is average-pooled, projected to
 *   `fusionDim` (ReLU), concatenated and mapped to the real feature (`embeddingDim`). The metric loss
 *   of the cell trains it on both domains, as a discriminative cell.
 * - Semantic predictor: sketch feature -> class word vector (squared error); at test its normalised
 *   output replaces the class vector, which is unknown for a query.
 * - Coarse-to-fine decoder: coarse MLP([class vector, noise]) -> category-level feature; fine
 *   MLP([coarse feature, sketch feature]) -> instance-level feature, the sketch's query feature.
 * - Losses on the batch's sketches: regression of the synthesised (and coarse) feature onto the
 *   batch's mean real photo feature of the class, and the metric loss on the synthesised features.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { ForwardContext, ResNetBackbone, globalAveragePool } from '../backbones';
import { PretrainedReport, loadPretrained } from '../import/pretrained';
import { l2normalize } from '../losses';
import {
  ModelConfig,
  backboneOf,
  ModelOutput,
  loadWeightsInto,
  resolvedModelConfig,
  validateModelConfig,
} from '../model';
import { dense, detach } from '../ops';
import { ParamStore, linearInit } from '../params';
import { Rng, keyedRng } from '../rng';
import {
  ClassVectors,
  ModelKindEntry,
  ModelKindEnv,
  ResolvedNetConfig,
  RetrievalNet,
  TrainForwardContext,
  TrainForwardOutput,
} from './types';

export const SSGN_DECODERS = ['coarse-fine', 'coarse', 'fine'] as const;
export type SsgnDecoder = (typeof SSGN_DECODERS)[number];
export const SSGN_TEST_SEMANTICS = ['predicted', 'nearest-class'] as const;

const weight = z.number().finite().nonnegative();
/** SSGN's options (`model.ssgn`), every default here; sizes chosen for the 64-px resnet-tiny demo. */
export const SsgnOptionsSchema = z
  .object({
    /** Multi-layer feature fusion over every stage; false = the last stage only (ablation "no fusion"). */
    fusion: z.boolean().default(true),
    /** Width of each stage's projection before concatenation. */
    fusionDim: z.number().int().positive().default(64),
    /** Hidden units of the coarse and fine MLPs. */
    hiddenDim: z.number().int().positive().default(256),
    /** Size of the coarse stage's noise z ~ N(0, noiseStd^2 I); 0 = no noise input. */
    noiseDim: z.number().int().nonnegative().default(16),
    noiseStd: weight.default(1),
    /** coarse-fine (the paper), coarse (coarse output is the query feature), fine (no semantic input). */
    decoder: z.enum(SSGN_DECODERS).default('coarse-fine'),
    /** Test-time condition of the coarse stage: the predicted vector, or the class vector nearest to it. */
    testSemantic: z.enum(SSGN_TEST_SEMANTICS).default('predicted'),
    /** Decoder and predictor see stop-gradient features: the extractor learns from the metric loss only. */
    detachFeatures: z.boolean().default(true),
    regressionWeight: weight.default(1),
    classificationWeight: weight.default(1),
    semanticWeight: weight.default(1),
  })
  .strict();
export type SsgnOptions = z.infer<typeof SsgnOptionsSchema>;

interface Linear {
  w: tf.Variable;
  b: tf.Variable;
}
type Mlp = [Linear, Linear];

const lin = (x: tf.Tensor2D, l: Linear): tf.Tensor2D => dense(x, l.w as tf.Tensor2D, l.b as tf.Tensor1D);
const mlp = (x: tf.Tensor2D, [a, b]: Mlp): tf.Tensor2D => lin(tf.relu(lin(x, a)), b);
const cat = (parts: tf.Tensor2D[]): tf.Tensor2D => (parts.length === 1 ? parts[0]! : tf.concat(parts, 1));

/** Mean over rows of the squared Euclidean distance, over the rows where `mask` is 1 (0 if none). */
function rowSquaredError(a: tf.Tensor2D, b: tf.Tensor2D, mask?: Float32Array): tf.Scalar {
  const per = tf.sum(tf.square(tf.sub(a, b)), 1);
  if (!mask) return tf.mean(per) as tf.Scalar;
  const n = mask.reduce((s, v) => s + v, 0);
  if (n === 0) return tf.scalar(0);
  return tf.div(tf.sum(tf.mul(per, tf.tensor1d(mask))), n) as tf.Scalar;
}

/** Sketch and photo row indices of a batch (domain 0 = sketch). */
function splitDomains(domain: ArrayLike<number>): { sketches: number[]; photos: number[] } {
  const sketches: number[] = [];
  const photos: number[] = [];
  for (let i = 0; i < domain.length; i++) (domain[i]! < 0.5 ? sketches : photos).push(i);
  return { sketches, photos };
}

/**
 * Regression targets of the sketches: the mean real photo feature of the sketch's class in the batch,
 * as an averaging matrix A [S, P] (target = A photoFeatures), and a mask of the sketches whose class
 * has a photo in the batch.
 */
export function classMeanWeights(
  sketchLabels: ArrayLike<number>,
  photoLabels: ArrayLike<number>,
): { weights: Float32Array; mask: Float32Array } {
  const s = sketchLabels.length;
  const p = photoLabels.length;
  const count = new Map<number, number>();
  for (let j = 0; j < p; j++) count.set(photoLabels[j]!, (count.get(photoLabels[j]!) ?? 0) + 1);
  const weights = new Float32Array(s * p);
  const mask = new Float32Array(s);
  for (let i = 0; i < s; i++) {
    const c = count.get(sketchLabels[i]!) ?? 0;
    if (c === 0) continue;
    mask[i] = 1;
    for (let j = 0; j < p; j++) if (photoLabels[j] === sketchLabels[i]) weights[i * p + j] = 1 / c;
  }
  return { weights, mask };
}

class SsgnNet implements RetrievalNet {
  readonly store = new ParamStore();
  readonly backbone: ResNetBackbone;
  readonly options: SsgnOptions;
  private readonly fusedStages: number[];
  private readonly fusion: Linear[];
  private readonly fusionOut: Linear;
  private readonly semantic: Linear | null = null;
  private readonly coarse: Mlp | null = null;
  private readonly fine: Mlp | null = null;
  /** Class vectors [K, dim] (a constant, not trained). */
  private readonly vectors: tf.Tensor2D | null = null;
  private readonly pretrainedReport: PretrainedReport | null = null;

  constructor(
    readonly cfg: ModelConfig,
    private readonly env: ModelKindEnv,
  ) {
    validateModelConfig(cfg);
    this.options = env.options as SsgnOptions;
    const o = this.options;
    if (cfg.hashBits)
      throw new Error('model.hashBits: the binary-code head is not available with model.kind ssgn');
    // Checked before any variable exists, so a refused config leaves nothing behind.
    const v = o.decoder === 'fine' ? null : checkedVectors(env.classVectors, cfg, o.decoder);
    const rng = env.rng;
    this.backbone = backboneOf(cfg, this.store, rng);
    const chans = this.backbone.stageChannels();
    this.fusedStages = o.fusion ? chans.map((_, i) => i + 1) : [chans.length];
    this.fusion = this.fusedStages.map((s) =>
      this.linear(rng, `ssgn.fusion.stage${s}`, chans[s - 1]!, o.fusionDim),
    );
    const d = cfg.embeddingDim;
    this.fusionOut = this.linear(rng, 'ssgn.fusion.out', this.fusedStages.length * o.fusionDim, d);
    if (v) {
      this.vectors = tf.tensor2d(v.data, [cfg.numClasses, v.dim]);
      this.semantic = this.linear(rng, 'ssgn.semantic', d, v.dim);
      this.coarse = this.mlp(rng, 'ssgn.coarse', v.dim + o.noiseDim, d);
    }
    if (o.decoder !== 'coarse') this.fine = this.mlp(rng, 'ssgn.fine', o.decoder === 'fine' ? d : 2 * d, d);
    if (cfg.pretrained)
      this.pretrainedReport = loadPretrained(this.store, cfg.pretrained, cfg.backbone, cfg.pretrainedInit);
    if (cfg.weightsFile) loadWeightsInto(this.store, cfg.weightsFile, cfg.backbone);
  }

  private linear(rng: Rng, name: string, cin: number, cout: number): Linear {
    const { w, b } = linearInit(rng, cin, cout);
    return { w: this.store.addParam(`${name}.weight`, w), b: this.store.addParam(`${name}.bias`, b) };
  }

  private mlp(rng: Rng, name: string, cin: number, cout: number): Mlp {
    const h = this.options.hiddenDim;
    return [this.linear(rng, `${name}.fc1`, cin, h), this.linear(rng, `${name}.fc2`, h, cout)];
  }

  getConfig(): ResolvedNetConfig {
    return {
      kind: 'ssgn',
      ...resolvedModelConfig(this.cfg, this.backbone, this.pretrainedReport),
      ssgn: { ...this.options },
      fusionStages: [...this.fusedStages],
      classVectorDim: this.vectors ? this.vectors.shape[1] : null,
      queryFeature: this.options.decoder === 'coarse' ? 'coarse' : 'fine',
    };
  }

  /** Real features [N, embeddingDim]: pooled stage maps, projected, fused. */
  private realFeatures(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    const maps = this.backbone.forwardStages(x, ctx);
    const parts = this.fusedStages.map((s, i) =>
      tf.relu(lin(globalAveragePool(maps[s - 1]!, ctx), this.fusion[i]!)),
    );
    return lin(cat(parts), this.fusionOut);
  }

  /** The decoder: coarse output (category level) and the query feature it synthesises. */
  private decode(
    sketch: tf.Tensor2D,
    semantic: tf.Tensor2D | null,
    noise: tf.Tensor2D | null,
  ): { coarse: tf.Tensor2D | null; out: tf.Tensor2D } {
    let coarse: tf.Tensor2D | null = null;
    if (this.coarse && semantic) coarse = mlp(cat(noise ? [semantic, noise] : [semantic]), this.coarse);
    if (!this.fine) return { coarse, out: coarse! };
    return { coarse, out: mlp(coarse ? cat([coarse, sketch]) : sketch, this.fine) };
  }

  /** Noise of step `step` for `rows` sketches: N(0, noiseStd^2), keyed by (cell seed, step). */
  private noise(rows: number, step: number): tf.Tensor2D | null {
    const k = this.options.noiseDim;
    if (k === 0) return null;
    return tf.tensor2d(keyedRng(this.env.seed, step).normalArray(rows * k, this.options.noiseStd), [rows, k]);
  }

  trainForward(x: tf.Tensor4D, ctx: TrainForwardContext): TrainForwardOutput {
    const o = this.options;
    const real = this.realFeatures(x, { training: true, domain: ctx.domain });
    const labels = ctx.labels.dataSync() as Int32Array;
    const { sketches, photos } = splitDomains(ctx.domain.dataSync());
    if (sketches.length === 0) return { embedding: real };
    const skIdx = tf.tensor1d(sketches, 'int32');
    const skLabels = sketches.map((i) => labels[i]!);
    const ySk = tf.tensor1d(skLabels, 'int32');
    const fs = tf.gather(o.detachFeatures ? detach(real) : real, skIdx);
    const terms: Record<string, tf.Scalar> = {};
    let vectors: tf.Tensor2D | null = null;
    if (this.semantic && this.vectors) {
      vectors = tf.gather(this.vectors, ySk);
      terms.semantic = rowSquaredError(lin(fs, this.semantic), vectors);
    }
    const dec = this.decode(fs, vectors, vectors ? this.noise(sketches.length, ctx.step) : null);
    terms.regression = this.regression(real, dec, skLabels, photos, labels);
    terms.classification = ctx.loss.compute(dec.out, ySk, { step: ctx.step });
    let extra = tf.add(
      tf.mul(terms.regression, o.regressionWeight),
      tf.mul(terms.classification, o.classificationWeight),
    );
    if (terms.semantic) extra = tf.add(extra, tf.mul(terms.semantic, o.semanticWeight));
    return { embedding: real, extraLoss: extra as tf.Scalar, terms };
  }

  /** Regression of the synthesised (and, with a fine stage, the coarse) feature onto class-mean photos. */
  private regression(
    real: tf.Tensor2D,
    dec: { coarse: tf.Tensor2D | null; out: tf.Tensor2D },
    skLabels: number[],
    photos: number[],
    labels: Int32Array,
  ): tf.Scalar {
    if (photos.length === 0) return tf.scalar(0);
    const { weights, mask } = classMeanWeights(
      skLabels,
      photos.map((i) => labels[i]!),
    );
    const photoFeat = tf.gather(detach(real), tf.tensor1d(photos, 'int32'));
    const target = tf.matMul(
      tf.tensor2d(weights, [skLabels.length, photos.length]),
      photoFeat,
    ) as tf.Tensor2D;
    let loss = rowSquaredError(dec.out, target, mask);
    if (dec.coarse && dec.coarse !== dec.out)
      loss = tf.add(loss, rowSquaredError(dec.coarse, target, mask)) as tf.Scalar;
    return loss;
  }

  /** Retrieval features: photos (domain 1) the real feature, sketches (domain 0) the synthesised one. */
  forward(x: tf.Tensor4D, ctx: ForwardContext): ModelOutput {
    if (!ctx.domain)
      throw new Error('model.kind ssgn: forward needs the domain of each image (sketch 0, photo 1)');
    const real = this.realFeatures(x, ctx);
    let semantic: tf.Tensor2D | null = null;
    if (this.semantic && this.vectors) {
      semantic = l2normalize(lin(real, this.semantic));
      if (this.options.testSemantic === 'nearest-class') {
        const nearest = tf.argMax(tf.matMul(semantic, this.vectors, false, true), 1);
        semantic = tf.gather(this.vectors, nearest);
      }
    }
    const n = real.shape[0];
    const noise = semantic && this.options.noiseDim > 0 ? tf.zeros([n, this.options.noiseDim]) : null;
    const synth = this.decode(real, semantic, noise as tf.Tensor2D | null).out;
    const isPhoto = tf.tile(tf.reshape(tf.greater(ctx.domain, 0.5), [n, 1]), [1, real.shape[1]]);
    return { embedding: tf.where(isPhoto, real, synth) as tf.Tensor2D };
  }

  dispose(): void {
    this.store.dispose();
    this.vectors?.dispose();
  }
}

/** The class vectors a coarse stage needs, checked against the model's classes. */
function checkedVectors(v: ClassVectors | undefined, cfg: ModelConfig, decoder: SsgnDecoder): ClassVectors {
  if (!v)
    throw new Error(
      `model.kind: ssgn with decoder ${decoder} needs class vectors (word vectors of the class names); none were given`,
    );
  if (!Number.isInteger(v.dim) || v.dim < 1 || v.data.length !== cfg.numClasses * v.dim)
    throw new Error(
      `classVectors: ${v.data.length} values of dim ${v.dim}, expected model.numClasses (${cfg.numClasses}) rows`,
    );
  return v;
}

export const ssgnKind: ModelKindEntry = {
  name: 'ssgn',
  description:
    'SSGN (zero-shot): fused multi-stage features, semantic predictor, coarse-to-fine conditional decoder',
  optionsKey: 'ssgn',
  options: SsgnOptionsSchema,
  create: (cfg, env) => new SsgnNet(cfg, env),
};
