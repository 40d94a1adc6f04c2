/**
 * Losses by name (`listLosses()`, `registerLoss`), each entry with a strict zod object of its options
 * holding every default (the trainer's yaml schema is composed from them). Unknown names and unknown
 * options are errors that list the valid ones.
 *
 * All take the embedding f [B, D] (not normalised unless the loss says so) and int32 labels [B], and
 * return the mean over the batch. Learnable loss parameters (classifier weights, class centres) live in
 * the loss's own ParamStore; the trainer optimises them with the network (no weight decay, as the
 * authors' second parameter group).
 *
 * Margin annealing (authors' `models/losses.py`, `MarginLoss` subclasses):
 *   alpha_t = min(max(step / annealSteps, 0), 1)
 *   MEMS:    m_t = 1 + (m - 1) alpha_t        (multiplicative; m_t = 1 is no margin)
 *   CosFace: m_t = m alpha_t                  (authors: cos*(1-alpha) + (cos-m)*alpha)
 *   ArcFace: m_t = m alpha_t                  (same schedule, our addition)
 *
 * One file on purpose: the loss registry (BUILTIN: description, options schema, create) is the
 * extension point; adding a loss is one entry in BUILTIN or one `registerLoss` call (CONTRIBUTING.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigIssueError, issueSentence } from '@sbir/core';
import { z } from 'zod';
import { stepScalar } from './graph/host';
import { dense, matMul2d } from './ops';
import { linearInit, ParamStore } from './params';
import { Rng } from './rng';
import type { ClassVectors } from './kinds/types';

/** A registered loss name (`listLosses()`). */
export type LossName = string;

export interface LossConfig {
  name: LossName;
  [k: string]: unknown;
}

export interface LossContext {
  /** Optimiser steps taken before this one (drives margin annealing). */
  step: number;
}

export interface LossEnv {
  embeddingDim: number;
  numClasses: number;
  /** Total training steps; `annealSteps: 'auto'` resolves to half of it (authors: 100k of 200k). */
  totalSteps?: number;
  rng?: Rng;
  /** Store for learnable loss parameters; a fresh one when omitted. */
  store?: ParamStore;
  /** Class word vectors (rows in label order, L2-normalised); losses that need them say so. */
  classVectors?: ClassVectors;
}

export type LossOptionValue = number | boolean | 'auto';

export interface MetricLoss {
  readonly name: LossName;
  /** Resolved options (defaults filled in; 'auto' resolved). */
  readonly options: Record<string, number | boolean>;
  /** Learnable parameters of the loss (may be empty). */
  readonly store: ParamStore;
  compute(embedding: tf.Tensor2D, labels: tf.Tensor1D, ctx: LossContext): tf.Scalar;
  /** Margin in effect at `step` (after annealing), for logging; undefined when the loss has none. */
  marginAt?(step: number): number;
}

/** One registered loss: one entry in BUILTIN below, or one `registerLoss` call. */
export interface LossEntry {
  description: string;
  /** strict zod object of the options, every default inside it (the yaml's `loss.<option>`). */
  options: z.AnyZodObject;
  create(
    o: Record<string, number | boolean>,
    env: Required<Pick<LossEnv, 'embeddingDim' | 'numClasses'>> &
      Pick<LossEnv, 'classVectors'> & { rng: Rng; store: ParamStore },
  ): Omit<MetricLoss, 'name' | 'options' | 'store'>;
}

// ---------------------------------------------------------------------------------------------
// Functional building blocks (exported for tests and reuse).

/** Mean softmax cross-entropy of logits [B, K] against int32 labels [B]. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const onehot = oneHotF(labels, k);
    const lse = tf.logSumExp(logits, 1);
    const trueLogit = tf.sum(tf.mul(logits, onehot), 1);
    return tf.mean(tf.sub(lse, trueLogit)) as tf.Scalar;
  });
}

/** One-hot float matrix [B, k] of int labels. */
function oneHotF(labels: tf.Tensor1D, k: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, k), 'float32') as tf.Tensor2D;
}

/** alpha_t = min(max(step / annealSteps, 0), 1); annealSteps <= 0 means no annealing (alpha = 1). */
export function annealFactor(step: number, annealSteps: number): number {
  if (!(annealSteps > 0)) return 1;
  return Math.min(Math.max(step / annealSteps, 0), 1);
}

/** Squared Euclidean distances [B, K] between rows of a [B, D] and rows of b [K, D] (clamped >= 0). */
export function squaredDistances(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const aa = tf.sum(tf.square(a), 1, true);
    const bb = tf.reshape(tf.sum(tf.square(b), 1), [1, -1]);
    const ab = matMul2d(a, b, false, true);
    return tf.relu(tf.sub(tf.add(aa, bb), tf.mul(ab, 2))) as tf.Tensor2D;
  });
}

/** The step and margin schedule of an annealed margin loss: given, the numbers derived from the margin
 *  become step scalars (graph/host.ts), so that a traced step takes them as graph inputs. */
export interface MarginSchedule {
  step: number;
  marginAt(step: number): number;
}

/** `derive(margin)` as a number, or as a step scalar under a schedule (same float32 value). */
function marginTerm(
  name: string,
  margin: number,
  schedule: MarginSchedule | undefined,
  derive: (m: number) => number,
): number | tf.Scalar {
  if (!schedule) return derive(margin);
  return stepScalar(name, derive(margin), (c) => derive(schedule.marginAt(c.step)));
}

/** Row-wise L2 normalisation with a small epsilon. */
export function l2normalize(x: tf.Tensor2D, eps = 1e-12): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), 1, true), eps))) as tf.Tensor2D);
}

/**
 * MEMS logits (authors' `MEMS.forward`): logit_j = -s ||f - c_j||^2, with the true class's squared
 * distance multiplied by margin^2 (i.e. -s ||margin (f - c_y)||^2).
 */
export function memsLogits(
  f: tf.Tensor2D,
  centres: tf.Tensor2D,
  labels: tf.Tensor1D,
  margin: number,
  scale = 1,
  schedule?: MarginSchedule,
): tf.Tensor2D {
  return tf.tidy(() => {
    const d2 = squaredDistances(f, centres);
    const onehot = oneHotF(labels, centres.shape[0]);
    const m2 = marginTerm('loss/mems.m2-1', margin, schedule, (m) => m * m - 1);
    const factor = tf.add(tf.mul(onehot, m2), 1);
    return tf.mul(tf.mul(d2, factor), -scale) as tf.Tensor2D;
  });
}

/** CosFace / AM-softmax logits: s (cos_j - m [j = y]) with f and the class weights L2-normalised. */
export function cosfaceLogits(
  f: tf.Tensor2D,
  weights: tf.Tensor2D,
  labels: tf.Tensor1D,
  margin: number,
  scale: number,
  schedule?: MarginSchedule,
): tf.Tensor2D {
  return tf.tidy(() => {
    const cos = matMul2d(l2normalize(f), l2normalize(weights), false, true);
    const onehot = oneHotF(labels, weights.shape[0]);
    const m = marginTerm('loss/cosface.m', margin, schedule, (v) => v);
    return tf.mul(tf.sub(cos, tf.mul(onehot, m)), scale) as tf.Tensor2D;
  });
}

/**
 * ArcFace logits: s cos(theta_y + m) for the true class, s cos(theta_j) otherwise. Where
 * theta_y + m would pass pi, uses cos(theta) - m sin(m) instead (keeps the logit monotonic in theta;
 * the usual InsightFace form).
 */
export function arcfaceLogits(
  f: tf.Tensor2D,
  weights: tf.Tensor2D,
  labels: tf.Tensor1D,
  margin: number,
  scale: number,
  schedule?: MarginSchedule,
): tf.Tensor2D {
  return tf.tidy(() => {
    const term = (name: string, derive: (m: number) => number) =>
      marginTerm(`loss/arcface.${name}`, margin, schedule, derive);
    const cos = tf.clipByValue(
      matMul2d(l2normalize(f), l2normalize(weights), false, true),
      -1 + 1e-7,
      1 - 1e-7,
    );
    const sin = tf.sqrt(tf.sub(1, tf.square(cos)));
    const phi = tf.sub(tf.mul(cos, term('cos', Math.cos)), tf.mul(sin, term('sin', Math.sin)));
    const th = term('th', (m) => Math.cos(Math.PI - m));
    const mm = term('mm', (m) => Math.sin(Math.PI - m) * m);
    // step() has a (zero) gradient registered, unlike greater(); cond = [cos > th].
    const cond = tf.step(tf.sub(cos, th));
    const phiSafe = tf.add(tf.mul(cond, phi), tf.mul(tf.sub(1, cond), tf.sub(cos, mm)));
    const onehot = oneHotF(labels, weights.shape[0]);
    const mixed = tf.add(tf.mul(onehot, phiSafe), tf.mul(tf.sub(1, onehot), cos));
    return tf.mul(mixed, scale) as tf.Tensor2D;
  });
}

/** Pairwise Euclidean distances [B, B] from explicit differences (sqrt(d^2 + 1e-12): smooth at 0). */
export function pairwiseDistances(f: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const diff = tf.sub(tf.expandDims(f, 1), tf.expandDims(f, 0));
    return tf.sqrt(tf.add(tf.sum(tf.square(diff), 2), 1e-12)) as tf.Tensor2D;
  });
}

function labelMasks(labels: tf.Tensor1D): { same: tf.Tensor2D; diff: tf.Tensor2D } {
  const l = tf.cast(labels, 'int32');
  const eq = tf.cast(tf.equal(tf.expandDims(l, 1), tf.expandDims(l, 0)), 'float32') as tf.Tensor2D;
  const eye = tf.eye(labels.shape[0]);
  return { same: tf.sub(eq, eye) as tf.Tensor2D, diff: tf.sub(1, eq) as tf.Tensor2D };
}

/**
 * Contrastive (Siamese) loss over all pairs i < j of the batch (Hadsell et al. 2006):
 *   same class: d^2;  different: max(0, margin - d)^2;  mean over pairs.
 * A batch with one sample has no pairs and gives 0.
 */
export function contrastiveLoss(f: tf.Tensor2D, labels: tf.Tensor1D, margin: number): tf.Scalar {
  return tf.tidy(() => {
    const b = f.shape[0];
    if (b < 2) return tf.mul(tf.sum(f), 0) as tf.Scalar;
    const d = pairwiseDistances(f);
    const { same, diff } = labelMasks(labels);
    const pos = tf.mul(same, tf.square(d));
    const neg = tf.mul(diff, tf.square(tf.relu(tf.sub(margin, d))));
    // Each unordered pair appears twice in the full matrix; the diagonal is masked out of both terms.
    return tf.div(tf.sum(tf.add(pos, neg)), b * (b - 1)) as tf.Scalar;
  });
}

/**
 * Triplet loss with batch-hard mining (Hermans et al. 2017): for every anchor, the farthest
 * positive and the closest negative in the batch; mean of max(0, d_ap - d_an + margin) over anchors
 * that have both (0 when none has, e.g. a batch of one class).
 */
export function tripletBatchHardLoss(f: tf.Tensor2D, labels: tf.Tensor1D, margin: number): tf.Scalar {
  return tf.tidy(() => {
    const d = pairwiseDistances(f);
    const { same, diff } = labelMasks(labels);
    const hardPos = tf.max(tf.mul(d, same), 1);
    const big = tf.mul(tf.sub(1, diff), 1e9);
    const hardNeg = tf.min(tf.add(d, big), 1);
    const valid = tf.mul(
      tf.cast(tf.greater(tf.sum(same, 1), 0), 'float32'),
      tf.cast(tf.greater(tf.sum(diff, 1), 0), 'float32'),
    );
    const per = tf.mul(tf.relu(tf.add(tf.sub(hardPos, hardNeg), margin)), valid);
    return tf.div(tf.sum(per), tf.maximum(tf.sum(valid), 1)) as tf.Scalar;
  });
}

/**
 * Direct regression (the zero-shot baseline): mean over the batch of ||f_i - v_{y_i}||^2, with v the
 * L2-normalised class vectors [K, D]. Summed over dimensions (per-element mean = this / D).
 */
export function regressionLoss(f: tf.Tensor2D, vectors: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const target = tf.gather(vectors, tf.cast(labels, 'int32'));
    return tf.mean(tf.sum(tf.square(tf.sub(f, target)), 1)) as tf.Scalar;
  });
}

// ---------------------------------------------------------------------------------------------
// Registry.

function addCentres(store: ParamStore, rng: Rng, name: string, k: number, d: number): tf.Variable {
  // L2-normalised standard-normal rows (authors: F.normalize(torch.randn(K, D), dim=1)).
  const raw = rng.normalArray(k * d);
  for (let i = 0; i < k; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += raw[i * d + j] ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < d; j++) raw[i * d + j] *= inv;
  }
  return store.addParam(name, tf.tensor2d(raw, [k, d]));
}

/** A linear layer `name` (PyTorch's default init, `linearInit`) registered in the store. */
function addLinear(
  store: ParamStore,
  rng: Rng,
  name: string,
  d: number,
  k: number,
): { w: tf.Variable; b: tf.Variable } {
  const { w, b } = linearInit(rng, d, k);
  return { w: store.addParam(`${name}.weight`, w), b: store.addParam(`${name}.bias`, b) };
}

/** A finite number option with its default. */
const num = (dflt: number) => z.number().finite().default(dflt);
/** Margin annealing length: 'auto' = half the total steps (the authors' 100k of 200k), or steps. */
const annealSteps = () => z.union([z.literal('auto'), z.number().int().nonnegative()]).default('auto');
const noOptions = () => z.object({}).strict();

const BUILTIN: Record<string, LossEntry> = {
  softmax: {
    description: 'softmax cross-entropy over a linear classifier',
    options: noOptions(),
    create: (_o, env) => {
      const c = addLinear(env.store, env.rng, 'loss.classifier', env.embeddingDim, env.numClasses);
      return {
        compute: (f, y) => crossEntropy(dense(f, c.w as tf.Tensor2D, c.b as tf.Tensor1D), y),
      };
    },
  },
  // The authors' code has no linear-classifier softmax: its loss without a margin is MEMS with m = 1
  // (models/losses.py MEMS with --margin 1, main.py's default). This entry is that baseline by name, so
  // softmax -> euclidean-softmax changes the logit form and euclidean-softmax -> mems the margin alone.
  'euclidean-softmax': {
    description:
      'softmax over negative squared Euclidean distances to learnable centres: MEMS with m = 1 (authors: models/losses.py, --margin 1)',
    options: z.object({ scale: num(1) }).strict(),
    create: (o, env) => {
      const centres = addCentres(env.store, env.rng, 'loss.centres', env.numClasses, env.embeddingDim);
      return {
        compute: (f, y) => crossEntropy(memsLogits(f, centres as tf.Tensor2D, y, 1, o.scale as number), y),
      };
    },
  },
  mems: {
    description: 'multiplicative Euclidean margin softmax (authors: models/losses.py, MEMS)',
    options: z
      .object({
        // m = 1 is the softmax over distances (euclidean-softmax): a smaller one is no margin at all
        margin: z.number().finite().min(1, 'MEMS margin must be >= 1: 1 is no margin').default(4),
        scale: num(1),
        annealSteps: annealSteps(),
      })
      .strict(),
    create: (o, env) => {
      const centres = addCentres(env.store, env.rng, 'loss.centres', env.numClasses, env.embeddingDim);
      const marginAt = (step: number): number =>
        1 + ((o.margin as number) - 1) * annealFactor(step, o.annealSteps as number);
      return {
        marginAt,
        compute: (f, y, ctx) =>
          crossEntropy(
            memsLogits(f, centres as tf.Tensor2D, y, marginAt(ctx.step), o.scale as number, {
              step: ctx.step,
              marginAt,
            }),
            y,
          ),
      };
    },
  },
  contrastive: {
    description: 'Siamese contrastive loss on all pairs within the batch',
    options: z.object({ margin: num(1) }).strict(),
    create: (o) => ({ compute: (f, y) => contrastiveLoss(f, y, o.margin as number) }),
  },
  triplet: {
    description: 'triplet loss with batch-hard mining',
    options: z.object({ margin: num(0.5) }).strict(),
    create: (o) => ({ compute: (f, y) => tripletBatchHardLoss(f, y, o.margin as number) }),
  },
  center: {
    description:
      'softmax cross-entropy + lambda/2 mean ||f - c_y||^2 (Wen et al. 2016), centres learned by the optimiser',
    options: z.object({ lambda: num(0.01) }).strict(),
    create: (o, env) => {
      const c = addLinear(env.store, env.rng, 'loss.classifier', env.embeddingDim, env.numClasses);
      const centres = addCentres(env.store, env.rng, 'loss.centres', env.numClasses, env.embeddingDim);
      return {
        compute: (f, y) =>
          tf.tidy(() => {
            const ce = crossEntropy(dense(f, c.w as tf.Tensor2D, c.b as tf.Tensor1D), y);
            const cy = tf.gather(centres, tf.cast(y, 'int32'));
            const pull = tf.mean(tf.sum(tf.square(tf.sub(f, cy)), 1));
            return tf.add(ce, tf.mul(pull, (o.lambda as number) / 2)) as tf.Scalar;
          }),
      };
    },
  },
  cosface: {
    description: 'CosFace / AM-softmax (authors: models/losses.py, CosFace)',
    options: z.object({ margin: num(0.35), scale: num(32), annealSteps: annealSteps() }).strict(),
    create: (o, env) => {
      const w = addCentres(env.store, env.rng, 'loss.centres', env.numClasses, env.embeddingDim);
      const marginAt = (step: number): number =>
        (o.margin as number) * annealFactor(step, o.annealSteps as number);
      return {
        marginAt,
        compute: (f, y, ctx) =>
          crossEntropy(
            cosfaceLogits(f, w as tf.Tensor2D, y, marginAt(ctx.step), o.scale as number, {
              step: ctx.step,
              marginAt,
            }),
            y,
          ),
      };
    },
  },
  arcface: {
    description: 'ArcFace additive angular margin (Deng et al. 2019)',
    options: z.object({ margin: num(0.5), scale: num(64), annealSteps: annealSteps() }).strict(),
    create: (o, env) => {
      const w = addCentres(env.store, env.rng, 'loss.centres', env.numClasses, env.embeddingDim);
      const marginAt = (step: number): number =>
        (o.margin as number) * annealFactor(step, o.annealSteps as number);
      return {
        marginAt,
        compute: (f, y, ctx) =>
          crossEntropy(
            arcfaceLogits(f, w as tf.Tensor2D, y, marginAt(ctx.step), o.scale as number, {
              step: ctx.step,
              marginAt,
            }),
            y,
          ),
      };
    },
  },
  regression: {
    description:
      'direct regression onto the class word vector (zero-shot baseline): mean squared distance to it',
    options: noOptions(),
    create: (_o, env) => {
      const v = env.classVectors;
      if (!v) throw new Error('loss.name: regression needs class vectors (word vectors of the class names)');
      if (v.dim !== env.embeddingDim)
        throw new Error(
          `model.embeddingDim: ${env.embeddingDim}, but loss regression needs the class vectors' dim ${v.dim}`,
        );
      if (v.data.length !== env.numClasses * v.dim)
        throw new Error(
          `classVectors: ${v.data.length} values of dim ${v.dim}, expected model.numClasses (${env.numClasses}) rows`,
        );
      // A buffer of the loss's store: disposed with it, never trained, not in checkpoints (the trainer
      // saves loss parameters only; the vectors come from the dataset).
      const vectors = env.store.addBuffer('loss.classVectors', tf.tensor2d(v.data, [env.numClasses, v.dim]));
      return { compute: (f, y) => regressionLoss(f, vectors as tf.Tensor2D, y) };
    },
  },
};

const LOSSES = new Map<string, LossEntry>(Object.entries(BUILTIN));

/** Registers a loss under a new name; throws on an empty or duplicate name. */
export function registerLoss(name: string, entry: LossEntry): void {
  if (!name) throw new Error('loss name must be non-empty');
  if (LOSSES.has(name)) throw new Error(`loss "${name}" is already registered`);
  LOSSES.set(name, entry);
}

/** Registered loss names, in registration order. */
export function listLosses(): string[] {
  return [...LOSSES.keys()];
}

/** The entry of loss `name`; fails with 'loss.name: unknown loss "x" (known: ...)'. */
export function getLoss(name: unknown): LossEntry {
  const entry = typeof name === 'string' ? LOSSES.get(name) : undefined;
  if (!entry)
    throw new ConfigIssueError(
      ['loss', 'name'],
      `unknown loss ${JSON.stringify(String(name))} (known: ${listLosses().join(', ')})`,
    );
  return entry;
}

/** Default options of a loss (a copy; 'auto' annealing stays 'auto'). */
export function lossDefaults(name: LossName): Record<string, LossOptionValue> {
  return getLoss(name).options.parse({}) as Record<string, LossOptionValue>;
}

/** One-line description per loss name. */
export function describeLosses(): Record<LossName, string> {
  return Object.fromEntries([...LOSSES].map(([n, e]) => [n, e.description]));
}

/**
 * Resolves options: the entry's schema checks them and fills the defaults; 'auto' annealing becomes
 * half the total steps (or 100,000). A bad option is a ConfigIssueError at `loss.<option>`.
 */
export function resolveLossOptions(cfg: LossConfig, totalSteps?: number): Record<string, number | boolean> {
  const entry = getLoss(cfg.name);
  const { name, ...given } = cfg;
  const parsed = entry.options.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const known = Object.keys(entry.options.shape);
      throw new ConfigIssueError(
        ['loss', ...issue.path, issue.keys[0]!],
        `unknown option for loss "${name}" (known: ${known.length ? known.join(', ') : 'none'})`,
      );
    }
    throw new ConfigIssueError(['loss', ...issue.path], issueSentence(issue, given));
  }
  const out = parsed.data as Record<string, number | boolean | 'auto'>;
  if (out.annealSteps === 'auto')
    out.annealSteps = totalSteps && totalSteps > 0 ? Math.max(1, Math.round(totalSteps / 2)) : 100000;
  return out as Record<string, number | boolean>;
}

/** Creates a loss by config; fails with 'unknown loss "x" (known: ...)'. */
export function createLoss(cfg: LossConfig, env: LossEnv): MetricLoss {
  const def = getLoss(cfg.name);
  const options = resolveLossOptions(cfg, env.totalSteps);
  const store = env.store ?? new ParamStore();
  const rng = env.rng ?? new Rng(0);
  const impl = def.create(options, {
    embeddingDim: env.embeddingDim,
    numClasses: env.numClasses,
    classVectors: env.classVectors,
    rng,
    store,
  });
  return { name: cfg.name, options, store, ...impl };
}

/**
 * Objective of the optional binary-code head: a linear classifier over the relaxed codes tanh(h)
 * (cross-entropy) plus a quantisation term q mean((|tanh h| - 1)^2) pulling codes towards +-1.
 */
export function createHashObjective(
  bits: number,
  numClasses: number,
  rng: Rng,
  store: ParamStore,
  quantization = 0.1,
) {
  const c = addLinear(store, rng, 'hash.classifier', bits, numClasses);
  return (hashLogits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar =>
    tf.tidy(() => {
      const codes = tf.tanh(hashLogits);
      const ce = crossEntropy(dense(codes, c.w as tf.Tensor2D, c.b as tf.Tensor1D), labels);
      const q = tf.mean(tf.square(tf.sub(tf.abs(codes), 1)));
      return tf.add(ce, tf.mul(q, quantization)) as tf.Scalar;
    });
}
