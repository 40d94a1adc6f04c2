/**
 * Optimisers (Adam, SGD with momentum) with L2 weight decay added to the gradient (PyTorch's
 * `weight_decay`, as the authors' `torch.optim.Adam`), and learning-rate schedules.
 *
 * Adam uses TensorFlow's formulation on every backend:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
 * (PyTorch adds eps to sqrt(v / (1 - b2^t)) instead; the two differ only through eps.)
 * On the native backend the whole update of one parameter is one `ResourceApplyAdam` kernel on
 * resource-variable slots (instead of about 15 element-wise kernels); elsewhere it is plain tfjs ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import { isNativeBackend } from './backend';
import { StepClock, stepScalar } from './graph/host';
import { ResourceVariable, resourceApplyAdam, resourceApplyMomentum } from './ops';

export type OptimizerName = 'adam' | 'sgd';
export type ScheduleName = 'constant' | 'half-constant-linear' | 'cosine';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['adam', 'sgd'];
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['constant', 'half-constant-linear', 'cosine'];

export interface OptimizerConfig {
  name: OptimizerName;
  lr: number;
  /** L2 weight decay on network parameters (not on loss parameters). Default 0. */
  weightDecay?: number;
  /** SGD momentum. Default 0.9. */
  momentum?: number;
  /** Default 'constant'. 'half-constant-linear': constant for the first half, then linear to 0 (authors). */
  schedule?: ScheduleName;
  totalSteps: number;
  /** Adam betas and epsilon. Defaults 0.9, 0.999, 1e-8. */
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export function validateOptimizerConfig(cfg: OptimizerConfig): void {
  if (!OPTIMIZER_NAMES.includes(cfg.name)) {
    throw new Error(
      `optimizer.name: unknown optimizer "${String(cfg.name)}" (known: ${OPTIMIZER_NAMES.join(', ')})`,
    );
  }
  if (cfg.schedule !== undefined && !SCHEDULE_NAMES.includes(cfg.schedule)) {
    throw new Error(
      `optimizer.schedule: unknown schedule "${String(cfg.schedule)}" (known: ${SCHEDULE_NAMES.join(', ')})`,
    );
  }
  if (!(typeof cfg.lr === 'number' && cfg.lr >= 0 && Number.isFinite(cfg.lr))) {
    throw new Error(`optimizer.lr: expected a number >= 0, got ${JSON.stringify(cfg.lr)}`);
  }
  if (!(Number.isInteger(cfg.totalSteps) && cfg.totalSteps > 0)) {
    throw new Error(
      `optimizer.totalSteps: expected a positive integer, got ${JSON.stringify(cfg.totalSteps)}`,
    );
  }
  for (const key of ['weightDecay', 'momentum', 'beta1', 'beta2', 'epsilon'] as const) {
    const v = cfg[key];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && Number.isFinite(v))) {
      throw new Error(`optimizer.${key}: expected a number >= 0, got ${JSON.stringify(v)}`);
    }
  }
}

/** Learning rate for the step with 0-based index `step`. */
export function learningRate(
  cfg: Pick<OptimizerConfig, 'lr' | 'schedule' | 'totalSteps'>,
  step: number,
): number {
  const t = Math.min(Math.max(step / cfg.totalSteps, 0), 1);
  switch (cfg.schedule ?? 'constant') {
    case 'constant':
      return cfg.lr;
    case 'half-constant-linear':
      // Authors' trainer.py: factor = 2 (1 - t) if t > 0.5 else 1.
      return t > 0.5 ? cfg.lr * 2 * (1 - t) : cfg.lr;
    case 'cosine':
      return cfg.lr * 0.5 * (1 + Math.cos(Math.PI * t));
  }
}

export interface ParamGroup {
  /** Variables by name (names must be unique across groups). */
  vars: Map<string, tf.Variable>;
  weightDecay: number;
}

type Slot = { kind: 'plain'; v: tf.Variable } | { kind: 'resource'; v: ResourceVariable };

/** Applies gradients in place. Slots are named `<slot>/<param name>` (adam: m, v; sgd: momentum). */
export class Optimizer {
  readonly cfg: OptimizerConfig;
  /** Whether updates run as fused TensorFlow kernels. */
  readonly fused: boolean;
  private readonly groups: ParamGroup[];
  private readonly slots = new Map<string, Slot>();
  /** Scratch resource variables holding a parameter during its fused update. */
  private readonly scratch = new Map<string, ResourceVariable>();
  private readonly constants: tf.Scalar[] = [];
  /** dataId of each parameter right after our last fused update: while unchanged, the scratch
   *  resource variable already holds the parameter's value and need not be re-assigned. */
  private readonly synced = new Map<string, object>();
  /** Updates applied so far (Adam's bias-correction counter). */
  iterations = 0;

  /** Whether updates use TensorFlow's kernel formulas in element-wise ops with the per-step scalars
   *  as host values (graph/host.ts), so that a traced step can run them inside a graph. */
  readonly traceable: boolean;

  constructor(
    cfg: OptimizerConfig,
    groups: ParamGroup[],
    opts: { fused?: boolean; traceable?: boolean } = {},
  ) {
    validateOptimizerConfig(cfg);
    this.cfg = cfg;
    this.groups = groups;
    this.traceable = opts.traceable ?? false;
    this.fused = !this.traceable && (opts.fused ?? true) && isNativeBackend();
    const momentum = cfg.momentum ?? 0.9;
    const slotNames = cfg.name === 'adam' ? ['m', 'v'] : momentum > 0 ? ['momentum'] : [];
    for (const g of groups) {
      for (const [name, p] of g.vars) {
        for (const s of slotNames) {
          const zeros = tf.zerosLike(p);
          const slot: Slot = this.fused
            ? { kind: 'resource', v: new ResourceVariable(zeros) }
            : { kind: 'plain', v: tf.variable(zeros, false) };
          zeros.dispose();
          this.slots.set(`${s}/${name}`, slot);
        }
        if (this.fused && slotNames.length > 0) this.scratch.set(name, new ResourceVariable(p));
      }
    }
    if (this.fused) {
      this.constants.push(
        tf.keep(tf.scalar(cfg.beta1 ?? 0.9)),
        tf.keep(tf.scalar(cfg.beta2 ?? 0.999)),
        tf.keep(tf.scalar(cfg.epsilon ?? 1e-8)),
      );
      this.constants.push(tf.keep(tf.scalar(momentum)));
    }
  }

  /** grads: by parameter name; parameters without a gradient are left unchanged. */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.iterations += 1;
    const t = this.iterations;
    if (this.traceable) {
      this.update(grads, { step: NaN, iterations: t }, lr);
      return;
    }
    const b1 = this.cfg.beta1 ?? 0.9;
    const b2 = this.cfg.beta2 ?? 0.999;
    const eps = this.cfg.epsilon ?? 1e-8;
    const momentum = this.cfg.momentum ?? 0.9;
    tf.tidy(() => {
      const lrT = tf.scalar(lr);
      const b1p = tf.scalar(b1 ** t);
      const b2p = tf.scalar(b2 ** t);
      for (const g of this.groups) {
        for (const [name, p] of g.vars) {
          let grad = grads.get(name);
          if (!grad) continue;
          if (g.weightDecay > 0) grad = tf.add(grad, tf.mul(p, g.weightDecay));
          if (this.fused && (this.cfg.name === 'adam' || momentum > 0)) {
            const scratch = this.scratch.get(name) as ResourceVariable;
            if (this.synced.get(name) !== p.dataId) scratch.assign(p);
            if (this.cfg.name === 'adam') {
              const [cb1, cb2, ceps] = this.constants;
              resourceApplyAdam(
                scratch,
                this.resource(`m/${name}`),
                this.resource(`v/${name}`),
                {
                  beta1Power: b1p,
                  beta2Power: b2p,
                  lr: lrT,
                  beta1: cb1,
                  beta2: cb2,
                  epsilon: ceps,
                },
                grad,
              );
            } else {
              resourceApplyMomentum(scratch, this.resource(`momentum/${name}`), lrT, grad, this.constants[3]);
            }
            p.assign(scratch.read());
            this.synced.set(name, p.dataId);
          } else if (this.cfg.name === 'adam') {
            const m = this.plain(`m/${name}`);
            const v = this.plain(`v/${name}`);
            const mNew = tf.add(tf.mul(m, b1), tf.mul(grad, 1 - b1));
            const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(grad), 1 - b2));
            m.assign(mNew);
            v.assign(vNew);
            const lrt = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
            p.assign(tf.sub(p, tf.mul(tf.div(mNew, tf.add(tf.sqrt(vNew), eps)), lrt)));
          } else if (momentum > 0) {
            const buf = this.plain(`momentum/${name}`);
            const bNew = tf.add(tf.mul(buf, momentum), grad);
            buf.assign(bNew);
            p.assign(tf.sub(p, tf.mul(bNew, lr)));
          } else {
            p.assign(tf.sub(p, tf.mul(grad, lr)));
          }
        }
      }
    });
  }

  /**
   * One traceable update at `clock` (does not count iterations; `apply` does). The formulas are those of
   * TensorFlow's ApplyAdam / ApplyMomentum kernels (training_ops.cc), the scalars in float32 as there:
   *   alpha = lr sqrt(1 - b2^t) / (1 - b1^t);  m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2);
   *   p -= m alpha / (sqrt(v) + eps);   momentum: a = a mu + g;  p -= lr a.
   * `lr` overrides the schedule's rate for clock.step (apply passes the trainer's).
   */
  update(grads: Map<string, tf.Tensor>, clock: StepClock, lr?: number): void {
    const cfg = this.cfg;
    const b1 = cfg.beta1 ?? 0.9;
    const b2 = cfg.beta2 ?? 0.999;
    const momentum = cfg.momentum ?? 0.9;
    tf.tidy(() => {
      const rate = lr ?? learningRate(cfg, clock.step);
      const lrT = stepScalar('optim/lr', rate, (c) => (lr === undefined ? learningRate(cfg, c.step) : rate));
      let alpha: tf.Scalar | null = null;
      if (cfg.name === 'adam') {
        const b1p = stepScalar('optim/beta1Power', b1 ** clock.iterations, (c) => b1 ** c.iterations);
        const b2p = stepScalar('optim/beta2Power', b2 ** clock.iterations, (c) => b2 ** c.iterations);
        alpha = tf.div(tf.mul(lrT, tf.sqrt(tf.sub(1, b2p))), tf.sub(1, b1p)) as tf.Scalar;
      }
      const one = tf.scalar(1);
      const c1 = tf.sub(one, tf.scalar(b1));
      const c2 = tf.sub(one, tf.scalar(b2));
      const eps = tf.scalar(cfg.epsilon ?? 1e-8);
      for (const g of this.groups) {
        for (const [name, p] of g.vars) {
          let grad = grads.get(name);
          if (!grad) continue;
          if (g.weightDecay > 0) grad = tf.add(grad, tf.mul(p, g.weightDecay));
          if (alpha) {
            const m = this.plain(`m/${name}`);
            const v = this.plain(`v/${name}`);
            m.assign(tf.add(m, tf.mul(tf.sub(grad, m), c1)));
            v.assign(tf.add(v, tf.mul(tf.sub(tf.square(grad), v), c2)));
            p.assign(tf.sub(p, tf.div(tf.mul(m, alpha), tf.add(tf.sqrt(v), eps))));
          } else if (momentum > 0) {
            const buf = this.plain(`momentum/${name}`);
            buf.assign(tf.add(tf.mul(buf, momentum), grad));
            p.assign(tf.sub(p, tf.mul(buf, lrT)));
          } else {
            p.assign(tf.sub(p, tf.mul(grad, lrT)));
          }
        }
      }
    });
  }

  private resource(key: string): ResourceVariable {
    return (this.slots.get(key) as { v: ResourceVariable }).v;
  }

  private plain(key: string): tf.Variable {
    return (this.slots.get(key) as { v: tf.Variable }).v;
  }

  /** Slot names and shapes. */
  slotShapes(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const [k, s] of this.slots) out.set(k, s.v.shape.slice());
    return out;
  }

  /** Current value of a slot as a new tensor (caller disposes). */
  readSlot(key: string): tf.Tensor {
    const s = this.slots.get(key);
    if (!s) throw new Error(`unknown optimiser slot "${key}"`);
    return s.kind === 'resource' ? s.v.read() : s.v.clone();
  }

  writeSlot(key: string, value: tf.Tensor): void {
    const s = this.slots.get(key);
    if (!s) throw new Error(`unknown optimiser slot "${key}"`);
    s.v.assign(value);
  }

  dispose(): void {
    for (const s of this.slots.values()) s.v.dispose();
    for (const s of this.scratch.values()) s.dispose();
    for (const c of this.constants) c.dispose();
    this.slots.clear();
    this.scratch.clear();
  }
}
