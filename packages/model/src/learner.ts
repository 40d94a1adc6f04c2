/**
 * (A "learner", as in fastai: network, loss and optimiser with their step. The `@sbir/trainer` package
 * is what runs cells and grids of them; the two names no longer overlap.)
 * `createLearner`: the object the trainer package drives (docs/CONTRACTS.md). One training step is
 * prepareInput (uint8 -> augmented, normalised float on the backend), forward with the tape on,
 * loss, gradients (tf.variableGrads), optimiser update; everything inside one tf.tidy, so the number
 * of live tensors is the same after every step. With stepMode graph (the default on the native
 * backend) everything after prepareInput runs as one TensorFlow graph traced from that same code
 * (graph/step.ts), or eagerly where it cannot be traced.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  ImageBatchLike,
  InputPipeline,
  InputPipelineConfig,
  prepareInput,
  resolveInputPipeline,
} from './augment';
import { isNativeBackend } from './backend';
import { StepClock } from './graph/host';
import { GraphStep, STEP_MODES, StepMode, StepOutputs, StepStatus } from './graph/step';
import { LossConfig, MetricLoss, createHashObjective, createLoss } from './losses';
import { createModel } from './kinds/registry';
import { ClassVectors, RetrievalNet } from './kinds/types';
import { ModelConfig } from './model';
import { Optimizer, OptimizerConfig, learningRate, validateOptimizerConfig } from './optim';
import { ParamStore } from './params';
import { Rng } from './rng';
import { NamedArray, loadTensorDir, saveTensorDir } from './tensorfile';

export interface LearnerConfig {
  model: ModelConfig;
  loss: LossConfig;
  optimizer: OptimizerConfig;
  seed: number;
  /**
   * Input pipeline (augment.ts): training transforms in trainStep with { augment: true }, its
   * test-time transforms in trainStep without augmentation and in embed. Default: `authors`
   * (datasets/Dataset.py). The trainer's `config` holds it resolved, every parameter written out.
   */
  input?: InputPipelineConfig | InputPipeline;
  /** Weight of the code head's objective (only with model.hashBits). Default 1. */
  hashWeight?: number;
  /** Class word vectors, rows in manifest class (label) order, L2-normalised: for the model kinds
   *  and losses that use semantic side information (ssgn, regression). */
  classVectors?: ClassVectors;
  /**
   * `graph` (default on the native backend): each training step runs as one TensorFlow graph traced
   * from the eager step (graph/step.ts), falling back to eager steps, with a one-line notice, where
   * the step cannot be traced. `eager`: kernel by kernel, with fused ResourceApplyAdam updates. On
   * the pure-JS backend steps are always eager.
   */
  stepMode?: StepMode;
}

export interface TrainBatch extends ImageBatchLike {
  labels: Int32Array;
  /** 0 = sketch, 1 = photo. */
  domains: Uint8Array;
}

export interface EmbedBatch extends ImageBatchLike {
  domains: Uint8Array;
}

export interface EmbedResult {
  /** n x dim features of the images as given, row-major. */
  embedding: Float32Array;
  dim: number;
  /** With { flip: true }: n x dim features of the horizontally flipped images (evaluateRetrieval
   *  takes them as `flipped` and uses the minimum distance over flip combinations, as the authors). */
  flipped?: Float32Array;
  /** With a code head: n x bits, one byte per bit (0 or 1) = sign of the code logits. */
  code?: Uint8Array;
  bits?: number;
}

export interface TrainStepResult {
  /** May be NaN or Infinity; the optimiser update is skipped for such a step (the step still counts). */
  loss: number;
  lr: number;
  /** Loss components (metric, and the model kind's own terms unweighted), when the kind has terms. */
  terms?: Record<string, number>;
}

export interface Learner {
  trainStep(batch: TrainBatch, opts?: { augment?: boolean }): TrainStepResult;
  embed(batch: EmbedBatch, opts?: { flip?: boolean }): EmbedResult;
  /** Completed training steps. */
  step: number;
  /** How the last training step ran (graph, or eager with the reason); null before the first. */
  stepStatus(): StepStatus | null;
  saveCheckpoint(dir: string): Promise<void>;
  loadCheckpoint(dir: string): Promise<void>;
  dispose(): void;
  readonly config: LearnerConfig;
  readonly model: RetrievalNet;
  readonly loss: MetricLoss;
  /** Trainable parameter count (network + loss). */
  numParams(): number;
  /** Loss margin in effect at the current step (after annealing), if the loss has one. */
  currentMargin(): number | undefined;
  /** The loss's class centres [numClasses x embeddingDim] (mems, center, cosface, arcface), else null.
   *  Input of trainCentreHash (the authors' post-hoc codes). */
  lossCentres(): Float32Array | null;
}

const CHECKPOINT_FORMAT = 'sbir-trainer-checkpoint';

function readTerms(terms: Record<string, tf.Scalar>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, t] of Object.entries(terms)) out[k] = t.dataSync()[0]!;
  return out;
}

/** The trainer config as checkpoint metadata: class vectors summarised (the dataset holds them). */
function configMeta(cfg: LearnerConfig): Record<string, unknown> {
  const { classVectors, ...rest } = cfg;
  if (!classVectors) return rest as Record<string, unknown>;
  return {
    ...rest,
    classVectors: { dim: classVectors.dim, rows: classVectors.data.length / classVectors.dim },
  };
}

class SbirLearner implements Learner {
  readonly config: LearnerConfig;
  readonly model: RetrievalNet;
  readonly loss: MetricLoss;
  step = 0;
  private readonly lossStore = new ParamStore();
  private readonly optimizer: Optimizer;
  private readonly augRng: Rng;
  private readonly pipeline: InputPipeline;
  private readonly hashObjective: ((h: tf.Tensor2D, y: tf.Tensor1D) => tf.Scalar) | null = null;
  /** engine variable name -> optimiser key ('model/<name>' or 'loss/<name>'). */
  private readonly keyOf = new Map<string, string>();
  private readonly varList: tf.Variable[] = [];
  /** Set when steps run through graphs (stepMode graph on the native backend). */
  private readonly graph: GraphStep | null = null;
  private disposed = false;

  constructor(cfg: LearnerConfig) {
    validateOptimizerConfig(cfg.optimizer);
    if (!Number.isInteger(cfg.seed))
      throw new Error(`seed: expected an integer, got ${JSON.stringify(cfg.seed)}`);
    if (cfg.stepMode !== undefined && !STEP_MODES.includes(cfg.stepMode)) {
      throw new Error(
        `stepMode: unknown step mode "${String(cfg.stepMode)}" (known: ${STEP_MODES.join(', ')})`,
      );
    }
    this.pipeline = resolveInputPipeline(cfg.input ?? { name: 'authors' });
    const stepMode = cfg.stepMode ?? (isNativeBackend() ? 'graph' : 'eager');
    this.config = { ...cfg, input: this.pipeline, stepMode };
    if (stepMode === 'graph' && isNativeBackend()) this.graph = new GraphStep();
    const rng = new Rng(cfg.seed);
    this.model = createModel(cfg.model, { rng: rng.fork(), seed: cfg.seed, classVectors: cfg.classVectors });
    const lossRng = rng.fork();
    this.loss = createLoss(cfg.loss, {
      embeddingDim: cfg.model.embeddingDim,
      numClasses: cfg.model.numClasses,
      totalSteps: cfg.optimizer.totalSteps,
      rng: lossRng,
      store: this.lossStore,
      classVectors: cfg.classVectors,
    });
    if (cfg.model.hashBits) {
      this.hashObjective = createHashObjective(
        cfg.model.hashBits,
        cfg.model.numClasses,
        lossRng,
        this.lossStore,
      );
    }
    this.augRng = rng.fork();
    const netVars = new Map<string, tf.Variable>();
    for (const [name, v] of this.model.store.params) {
      netVars.set(`model/${name}`, v);
      this.keyOf.set(v.name, `model/${name}`);
      this.varList.push(v);
    }
    const lossVars = new Map<string, tf.Variable>();
    for (const [name, v] of this.lossStore.params) {
      lossVars.set(`loss/${name}`, v);
      this.keyOf.set(v.name, `loss/${name}`);
      this.varList.push(v);
    }
    this.optimizer = new Optimizer(
      cfg.optimizer,
      [
        { vars: netVars, weightDecay: cfg.optimizer.weightDecay ?? 0 },
        { vars: lossVars, weightDecay: 0 },
      ],
      { traceable: this.graph !== null },
    );
  }

  numParams(): number {
    return this.model.store.numParams() + this.lossStore.numParams();
  }

  stepStatus(): StepStatus | null {
    if (this.graph) return this.graph.status;
    if (this.step === 0) return null;
    const reason = isNativeBackend() ? 'stepMode is eager' : 'the backend is not TensorFlow';
    return { mode: 'eager', reason };
  }

  currentMargin(): number | undefined {
    return this.loss.marginAt?.(this.step);
  }

  lossCentres(): Float32Array | null {
    const c = this.lossStore.params.get('loss.centres');
    return c ? Float32Array.from(c.dataSync() as Float32Array) : null;
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('trainer has been disposed');
  }

  trainStep(batch: TrainBatch, opts: { augment?: boolean } = {}): TrainStepResult {
    this.checkAlive();
    if (batch.labels.length !== batch.n || batch.domains.length !== batch.n) {
      throw new Error(
        `batch: labels (${batch.labels.length}) and domains (${batch.domains.length}) must have n = ${batch.n} entries`,
      );
    }
    const k = this.config.model.numClasses;
    for (let i = 0; i < batch.n; i++) {
      const l = batch.labels[i];
      if (!(l >= 0 && l < k))
        throw new Error(`batch.labels[${i}] = ${l} is outside 0..${k - 1} (model.numClasses = ${k})`);
    }
    const lr = learningRate(this.config.optimizer, this.step);
    const size = this.config.model.inputSize;
    const hashWeight = this.config.hashWeight ?? 1;
    let loss = NaN;
    let terms: Record<string, number> | undefined;
    tf.tidy(() => {
      const x = prepareInput(batch, size, this.pipeline, opts.augment ? this.augRng : undefined);
      const domain = tf.tensor1d(Float32Array.from(batch.domains));
      const labels = tf.tensor1d(batch.labels, 'int32');
      const clock = { step: this.step, iterations: this.optimizer.iterations + 1 };
      const outs = this.graph?.run(
        { x, domain, labels },
        clock,
        (f, c) => this.traceSpec(f, c),
        (why) => process.stderr.write(`note: training steps run eagerly: ${why}\n`),
      );
      if (outs) {
        ({ loss, terms } = this.applyGraphOutputs(outs));
        return;
      }
      const { value, grads } = tf.variableGrads(() => {
        const out = this.model.trainForward(x, { domain, labels, step: this.step, loss: this.loss });
        const metric = this.loss.compute(out.embedding, labels, { step: this.step });
        let l = metric;
        if (out.hashLogits && this.hashObjective) {
          l = tf.add(l, tf.mul(this.hashObjective(out.hashLogits, labels), hashWeight));
        }
        if (out.extraLoss) l = tf.add(l, out.extraLoss);
        // Read here: tensors other than the result are disposed when variableGrads returns.
        if (out.terms) terms = readTerms({ metric, ...out.terms });
        return l;
      }, this.varList);
      loss = value.dataSync()[0];
      if (Number.isFinite(loss)) this.optimizer.apply(this.gradsByKey(grads), lr);
    });
    this.step += 1;
    return terms ? { loss, lr, terms } : { loss, lr };
  }

  private gradsByKey(grads: tf.NamedTensorMap): Map<string, tf.Tensor> {
    const byKey = new Map<string, tf.Tensor>();
    for (const [engineName, g] of Object.entries(grads)) {
      const key = this.keyOf.get(engineName);
      if (key) byKey.set(key, g);
    }
    return byKey;
  }

  /** The step as the tracer runs it: no reads back to JS, terms kept as outputs, update separate. */
  private traceSpec(
    feeds: Record<string, tf.Tensor>,
    clock: StepClock,
  ): { forward(): Record<string, tf.Tensor>; update(): void } {
    const hashWeight = this.config.hashWeight ?? 1;
    const [x, domain, labels] = [
      feeds.x as tf.Tensor4D,
      feeds.domain as tf.Tensor1D,
      feeds.labels as tf.Tensor1D,
    ];
    let grads: tf.NamedTensorMap = {};
    return {
      forward: () => {
        const kept: Record<string, tf.Tensor> = {};
        const res = tf.variableGrads(() => {
          const out = this.model.trainForward(x, { domain, labels, step: clock.step, loss: this.loss });
          const metric = this.loss.compute(out.embedding, labels, { step: clock.step });
          let l = metric;
          if (out.hashLogits && this.hashObjective) {
            l = tf.add(l, tf.mul(this.hashObjective(out.hashLogits, labels), hashWeight));
          }
          if (out.extraLoss) l = tf.add(l, out.extraLoss);
          if (out.terms) {
            for (const [k, t] of Object.entries({ metric, ...out.terms })) kept[`term/${k}`] = tf.keep(t);
          }
          return l;
        }, this.varList);
        grads = res.grads;
        return { loss: res.value, ...kept };
      },
      update: () => this.optimizer.update(this.gradsByKey(grads), clock),
    };
  }

  /** Assigns a graph step's outputs: forward side effects (BatchNorm running statistics) always,
   *  the optimiser's update only for a finite loss (as the eager step). */
  private applyGraphOutputs(outs: StepOutputs): { loss: number; terms?: Record<string, number> } {
    const loss = (outs.get('out/loss') as tf.Tensor).dataSync()[0]!;
    let terms: Record<string, number> | undefined;
    const vars = tf.engine().registeredVariables;
    for (const [key, t] of outs) {
      const [kind, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      if (kind === 'out' && name.startsWith('term/')) (terms ??= {})[name.slice(5)] = t.dataSync()[0]!;
      else if (kind === 'side') vars[name]!.assign(t);
    }
    if (Number.isFinite(loss)) {
      this.optimizer.iterations += 1;
      for (const [key, t] of outs) if (key.startsWith('update/')) vars[key.slice(7)]!.assign(t);
    }
    return terms ? { loss, terms } : { loss };
  }

  embed(batch: EmbedBatch, opts: { flip?: boolean } = {}): EmbedResult {
    this.checkAlive();
    if (batch.domains.length !== batch.n) {
      throw new Error(`batch: domains (${batch.domains.length}) must have n = ${batch.n} entries`);
    }
    const dim = this.config.model.embeddingDim;
    const bits = this.config.model.hashBits;
    const n = batch.n;
    let res: EmbedResult = { embedding: new Float32Array(0), dim };
    if (n === 0) {
      if (opts.flip) res.flipped = new Float32Array(0);
      if (bits) Object.assign(res, { code: new Uint8Array(0), bits });
      return res;
    }
    tf.tidy(() => {
      let x = prepareInput(batch, this.config.model.inputSize, this.pipeline);
      let domain = tf.tensor1d(Float32Array.from(batch.domains));
      if (opts.flip) {
        x = tf.concat([x, tf.reverse(x, 2)], 0);
        domain = tf.concat([domain, domain], 0);
      }
      const out = this.model.forward(x, { training: false, domain });
      const all = out.embedding.dataSync() as Float32Array;
      res = { embedding: all.slice(0, n * dim), dim };
      if (opts.flip) res.flipped = all.slice(n * dim, 2 * n * dim);
      if (out.hashLogits && bits) {
        const h = out.hashLogits.dataSync();
        const code = new Uint8Array(n * bits);
        for (let i = 0; i < n * bits; i++) code[i] = h[i] > 0 ? 1 : 0;
        res.code = code;
        res.bits = bits;
      }
    });
    return res;
  }

  /** Model parameters and buffers and loss parameters by checkpoint name. */
  private namedVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [n, v] of this.model.store.params) out.set(`model/${n}`, v);
    for (const [n, v] of this.model.store.buffers) out.set(`model/${n}`, v);
    for (const [n, v] of this.lossStore.params) out.set(`loss/${n}`, v);
    return out;
  }

  async saveCheckpoint(dir: string): Promise<void> {
    this.checkAlive();
    const tensors = new Map<string, NamedArray>();
    for (const [name, v] of this.namedVariables()) {
      tensors.set(name, {
        dtype: 'float32',
        shape: v.shape.slice(),
        data: Float32Array.from(v.dataSync() as Float32Array),
      });
    }
    for (const [name, shape] of this.optimizer.slotShapes()) {
      const t = this.optimizer.readSlot(name);
      tensors.set(`optim/${name}`, {
        dtype: 'float32',
        shape,
        data: Float32Array.from(t.dataSync() as Float32Array),
      });
      t.dispose();
    }
    saveTensorDir(dir, tensors, {
      format: CHECKPOINT_FORMAT,
      step: this.step,
      optimizerIterations: this.optimizer.iterations,
      augRng: this.augRng.getState(),
      config: configMeta(this.config),
      savedAt: new Date().toISOString(),
    });
  }

  async loadCheckpoint(dir: string): Promise<void> {
    this.checkAlive();
    const { tensors, meta } = loadTensorDir(dir);
    if (meta.format !== CHECKPOINT_FORMAT)
      throw new Error(`${dir}: not a trainer checkpoint (meta.format=${String(meta.format)})`);
    const shapes = new Map<string, number[]>();
    for (const [n, v] of this.namedVariables()) shapes.set(n, v.shape);
    for (const [n, s] of this.optimizer.slotShapes()) shapes.set(`optim/${n}`, s);
    const missing = [...shapes.keys()].filter((k) => !tensors.has(k));
    const unexpected = [...tensors.keys()].filter((k) => !shapes.has(k));
    if (missing.length || unexpected.length) {
      throw new Error(
        `${dir}: checkpoint does not match this model/loss/optimiser ` +
          `(missing ${missing.length}: ${missing.slice(0, 3).join(', ')}; unexpected ${unexpected.length}: ${unexpected.slice(0, 3).join(', ')})`,
      );
    }
    for (const [name, shape] of shapes) {
      const t = tensors.get(name) as NamedArray;
      if (t.shape.join(',') !== shape.join(',')) {
        throw new Error(
          `${dir}: tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`,
        );
      }
    }
    const vars = this.namedVariables();
    for (const [name, t] of tensors) {
      const value = tf.tensor(t.data, t.shape, t.dtype);
      const v = vars.get(name);
      if (v) v.assign(value);
      else this.optimizer.writeSlot(name.slice('optim/'.length), value);
      value.dispose();
    }
    this.step = Number(meta.step ?? 0);
    this.optimizer.iterations = Number(meta.optimizerIterations ?? this.step);
    if (Array.isArray(meta.augRng)) this.augRng.setState(meta.augRng as number[]);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.graph?.dispose();
    this.model.dispose();
    this.lossStore.dispose();
    this.optimizer.dispose();
  }
}

/** Builds model, loss and optimiser from one config (docs/CONTRACTS.md). */
export function createLearner(cfg: LearnerConfig): Learner {
  return new SbirLearner(cfg);
}
