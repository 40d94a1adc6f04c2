/**
 * Fast paths on the native TensorFlow backend, with plain-op fallbacks elsewhere.
 *
 * - BatchNorm (training): TensorFlow's `FusedBatchNormV3` forward and `FusedBatchNormGradV3` as its
 *   custom gradient, reached through the tfjs-node backend's `executeMultipleOutputs` (tfjs itself
 *   only exposes the inference kernel). The running statistics are updated by the same kernel
 *   (`exponential_avg_factor` = momentum; unbiased batch variance, as PyTorch). On other backends:
 *   `tf.moments` + `tf.batchNorm`, same maths.
 * - ReLU: `Relu` forward and `ReluGrad` as the gradient (one kernel instead of step + cast + mul).
 * - 2-D products: `MatMul` / `BiasAdd` instead of tfjs' `BatchMatMulV2` route (matMul2d, dense).
 * - Spatial mean: gradient as one `BroadcastTo`.
 * - Optimiser slots as resource variables updated by `ResourceApplyAdam` / `ResourceApplyMomentum`.
 * - Convolution (grouped, PyTorch padding) and max-pooling live in conv.ts.
 * All are checked against the plain-op path in test/blocks.test.ts and test/backend.test.ts.
 *
 * One file on purpose: each native fast path sits next to its plain-op fallback, and all of them share
 * the one check of which backend is running.
 */
import * as tf from '@tensorflow/tfjs-core';
import { isNativeBackend } from './backend';

export interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}

interface Binding {
  TF_ATTR_TYPE: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_STRING: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_INT: number;
  TF_FLOAT: number;
  TF_INT32: number;
}

/** The part of tfjs-node's NodeJSKernelBackend this module uses. */
interface NativeBackend {
  binding: Binding;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.Tensor[]): tf.Tensor;
}

function native(): NativeBackend {
  return tf.backend() as unknown as NativeBackend;
}

/** Runs a raw TensorFlow op (native backend only). */
export function rawOp(name: string, attrs: OpAttr[], inputs: tf.Tensor[], numOutputs = 1): tf.Tensor[] {
  return native().executeMultipleOutputs(name, attrs, inputs, numOutputs);
}

/** Attribute helpers for rawOp. */
export const attr = {
  type(name: string, dtype: 'float32' | 'int32' = 'float32'): OpAttr {
    const b = native().binding;
    return { name, type: b.TF_ATTR_TYPE, value: dtype === 'float32' ? b.TF_FLOAT : b.TF_INT32 };
  },
  float(name: string, value: number): OpAttr {
    return { name, type: native().binding.TF_ATTR_FLOAT, value };
  },
  bool(name: string, value: boolean): OpAttr {
    return { name, type: native().binding.TF_ATTR_BOOL, value };
  },
  string(name: string, value: string): OpAttr {
    return { name, type: native().binding.TF_ATTR_STRING, value };
  },
  int(name: string, value: number): OpAttr {
    return { name, type: native().binding.TF_ATTR_INT, value };
  },
  ints(name: string, value: number[]): OpAttr {
    return { name, type: native().binding.TF_ATTR_INT, value };
  },
};

/** BatchNorm parameters and running statistics of one layer. */
export interface BatchNormVars {
  gamma: tf.Variable;
  beta: tf.Variable;
  runningMean: tf.Variable;
  runningVar: tf.Variable;
}

export interface BatchNormOptions {
  training: boolean;
  /** Apply ReLU after the normalisation (fused into the same custom-gradient node). */
  relu?: boolean;
  /** Running-statistics momentum (PyTorch convention: new = (1 - m) old + m batch). */
  momentum?: number;
  epsilon?: number;
  /** Force the plain-op path even on the native backend (for tests). */
  forcePlain?: boolean;
}

/** BatchNorm over N, H, W of an NHWC tensor, optionally followed by ReLU. */
export function batchNorm(x: tf.Tensor4D, bn: BatchNormVars, opts: BatchNormOptions): tf.Tensor4D {
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.epsilon ?? 1e-5;
  const useNative = isNativeBackend() && !opts.forcePlain;
  if (!opts.training) {
    const y = tf.batchNorm(
      x,
      bn.runningMean as tf.Tensor1D,
      bn.runningVar as tf.Tensor1D,
      bn.beta as tf.Tensor1D,
      bn.gamma as tf.Tensor1D,
      eps,
    );
    return opts.relu ? ((useNative ? reluNative(y) : tf.relu(y)) as tf.Tensor4D) : y;
  }
  if (useNative) return fusedBatchNormTrain(x, bn, momentum, eps, opts.relu ?? false);
  return plainBatchNormTrain(x, bn, momentum, eps, opts.relu ?? false);
}

function plainBatchNormTrain(
  x: tf.Tensor4D,
  bn: BatchNormVars,
  momentum: number,
  eps: number,
  relu: boolean,
): tf.Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const n = x.shape[0] * x.shape[1] * x.shape[2];
  tf.tidy(() => {
    const m = mean;
    const v = variance;
    bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - momentum), tf.mul(m, momentum)));
    bn.runningVar.assign(
      tf.add(tf.mul(bn.runningVar, 1 - momentum), tf.mul(v, (momentum * n) / Math.max(n - 1, 1))),
    );
  });
  const y = tf.batchNorm(
    x,
    mean as tf.Tensor1D,
    variance as tf.Tensor1D,
    bn.beta as tf.Tensor1D,
    bn.gamma as tf.Tensor1D,
    eps,
  );
  return relu ? tf.relu(y) : y;
}

function fusedBatchNormTrain(
  x: tf.Tensor4D,
  bn: BatchNormVars,
  momentum: number,
  eps: number,
  relu: boolean,
): tf.Tensor4D {
  const f = tf.customGrad((...args: unknown[]) => {
    const [xi, gamma, beta] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as (ts: tf.Tensor[]) => void;
    const attrs = [
      attr.type('T'),
      attr.type('U'),
      attr.float('epsilon', eps),
      attr.float('exponential_avg_factor', momentum),
      attr.string('data_format', 'NHWC'),
      attr.bool('is_training', true),
    ];
    const out = rawOp('FusedBatchNormV3', attrs, [xi, gamma, beta, bn.runningMean, bn.runningVar], 6);
    // out: y, updated running mean, updated running variance (unbiased), batch mean, batch
    // inverse-std/variance (reserve spaces), reserve_space_3.
    bn.runningMean.assign(out[1] as tf.Tensor1D);
    bn.runningVar.assign(out[2] as tf.Tensor1D);
    let y = out[0] as tf.Tensor4D;
    if (relu) y = rawOp('Relu', [attr.type('T')], [y])[0] as tf.Tensor4D;
    save([xi, gamma, out[3], out[4], out[5], y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg, r1, r2, r3, sy] = saved;
        const g = relu ? rawOp('ReluGrad', [attr.type('T')], [dy, sy])[0] : dy;
        const gattrs = [
          attr.type('T'),
          attr.type('U'),
          attr.float('epsilon', eps),
          attr.string('data_format', 'NHWC'),
          attr.bool('is_training', true),
        ];
        const grads = rawOp('FusedBatchNormGradV3', gattrs, [g, sx, sg, r1, r2, r3], 5);
        return [grads[0], grads[1], grads[2]];
      },
    };
  });
  return f(x, bn.gamma, bn.beta) as tf.Tensor4D;
}

/** ReLU with TensorFlow's ReluGrad as gradient (native), else tf.relu. */
export function relu<T extends tf.Tensor>(x: T): T {
  return (isNativeBackend() ? reluNative(x) : tf.relu(x)) as T;
}

function reluNative(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((...args: unknown[]) => {
    const xi = args[0] as tf.Tensor;
    const save = args[1] as (ts: tf.Tensor[]) => void;
    const y = rawOp('Relu', [attr.type('T')], [xi])[0];
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => rawOp('ReluGrad', [attr.type('T')], [dy, saved[0]])[0],
    };
  });
  return f(x);
}

/**
 * Mean over H and W of an NHWC tensor -> [N, C]. On the native backend the gradient is a single
 * BroadcastTo of dy / (H W) (tfjs' own mean gradient materialises a tensor of ones and multiplies).
 */
export function spatialMean(x: tf.Tensor4D): tf.Tensor2D {
  if (!isNativeBackend()) return tf.mean(x, [1, 2]);
  const [n, h, w, c] = x.shape;
  const f = tf.customGrad((...args: unknown[]) => {
    const xi = args[0] as tf.Tensor4D;
    return {
      value: tf.mean(xi, [1, 2]),
      gradFunc: (dy: tf.Tensor) => {
        const g = tf.reshape(tf.mul(dy, 1 / (h * w)), [n, 1, 1, c]);
        const shape = tf.tensor1d([n, h, w, c], 'int32');
        const out = rawOp('BroadcastTo', [attr.type('T'), attr.type('Tidx', 'int32')], [g, shape])[0];
        shape.dispose();
        return out;
      },
    };
  });
  return f(x) as tf.Tensor2D;
}

let resourceCounter = 0;

/**
 * A TensorFlow resource variable (VarHandleOp) on the native backend. Used for optimiser slots so that
 * one fused kernel (ResourceApplyAdam / ResourceApplyMomentum) updates a parameter and its slots in
 * place. TensorFlow copies a buffer before an in-place update when another tensor still references
 * it, so values read out or assigned in stay valid.
 */
export class ResourceVariable {
  readonly handle: tf.Tensor;
  readonly shape: number[];

  constructor(initial: tf.Tensor) {
    this.shape = initial.shape.slice();
    const b = native().binding as Binding & { TF_ATTR_SHAPE?: number };
    this.handle = rawOp(
      'VarHandleOp',
      [
        attr.string('container', ''),
        attr.string('shared_name', `sbir_resource_${process.pid}_${resourceCounter++}`),
        attr.type('dtype'),
        { name: 'shape', type: b.TF_ATTR_SHAPE ?? 5, value: this.shape },
      ],
      [],
    )[0];
    tf.keep(this.handle);
    this.assign(initial);
  }

  /** Current value as a new tensor (caller owns it). */
  read(): tf.Tensor {
    return rawOp('ReadVariableOp', [attr.type('dtype')], [this.handle])[0];
  }

  assign(value: tf.Tensor): void {
    if (value.shape.join(',') !== this.shape.join(',')) {
      throw new Error(
        `ResourceVariable.assign: shape [${value.shape.join(', ')}] != [${this.shape.join(', ')}]`,
      );
    }
    rawOp(
      'AssignVariableOp',
      [attr.type('dtype'), attr.bool('validate_shape', false)],
      [this.handle, value],
      0,
    );
  }

  dispose(): void {
    if (this.handle.isDisposed) return;
    rawOp('DestroyResourceOp', [attr.bool('ignore_lookup_error', true)], [this.handle], 0);
    this.handle.dispose();
  }
}

/** ResourceApplyAdam: m, v and var updated in one kernel (TensorFlow's Adam formula). */
export function resourceApplyAdam(
  v: ResourceVariable,
  m: ResourceVariable,
  s: ResourceVariable,
  scalars: {
    beta1Power: tf.Scalar;
    beta2Power: tf.Scalar;
    lr: tf.Scalar;
    beta1: tf.Scalar;
    beta2: tf.Scalar;
    epsilon: tf.Scalar;
  },
  grad: tf.Tensor,
): void {
  rawOp(
    'ResourceApplyAdam',
    [attr.type('T'), attr.bool('use_locking', false), attr.bool('use_nesterov', false)],
    [
      v.handle,
      m.handle,
      s.handle,
      scalars.beta1Power,
      scalars.beta2Power,
      scalars.lr,
      scalars.beta1,
      scalars.beta2,
      scalars.epsilon,
      grad,
    ],
    0,
  );
}

/** ResourceApplyMomentum: accum = momentum accum + grad; var -= lr accum (PyTorch's SGD momentum). */
export function resourceApplyMomentum(
  v: ResourceVariable,
  accum: ResourceVariable,
  lr: tf.Scalar,
  grad: tf.Tensor,
  momentum: tf.Scalar,
): void {
  rawOp(
    'ResourceApplyMomentum',
    [attr.type('T'), attr.bool('use_locking', false), attr.bool('use_nesterov', false)],
    [v.handle, accum.handle, lr, grad, momentum],
    0,
  );
}

function mm(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor2D {
  return rawOp(
    'MatMul',
    [attr.type('T'), attr.bool('transpose_a', ta), attr.bool('transpose_b', tb)],
    [a, b],
  )[0] as tf.Tensor2D;
}

/**
 * 2-D matrix product. On the native backend it runs TensorFlow's `MatMul` (forward and gradient):
 * tfjs' matMul goes through `BatchMatMulV2`, which costs 40-100 us even for tiny matrices (SE
 * excitation, heads, losses), against about 10 us for `MatMul`.
 */
export function matMul2d(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  transposeA = false,
  transposeB = false,
): tf.Tensor2D {
  if (!isNativeBackend()) return tf.matMul(a, b, transposeA, transposeB);
  const f = tf.customGrad((...args: unknown[]) => {
    const [x, y] = args as [tf.Tensor2D, tf.Tensor2D];
    const save = args[2] as (ts: tf.Tensor[]) => void;
    save([x, y]);
    return {
      value: mm(x, y, transposeA, transposeB),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sy] = saved;
        // C = op(A) op(B): dA and dB for each transpose combination.
        const da = transposeA ? mm(sy, dy, transposeB, true) : mm(dy, sy, false, !transposeB);
        const db = transposeB ? mm(dy, sx, true, transposeA) : mm(sx, dy, !transposeA, false);
        return [da, db];
      },
    };
  });
  return f(a, b) as tf.Tensor2D;
}

/** x W + b with W [in, out]: `MatMul` + `BiasAdd` forward, `MatMul` x2 + `BiasAddGrad` backward. */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  if (!isNativeBackend()) return tf.add(tf.matMul(x, w), b) as tf.Tensor2D;
  const f = tf.customGrad((...args: unknown[]) => {
    const [xi, wi, bi] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const save = args[3] as (ts: tf.Tensor[]) => void;
    save([xi, wi]);
    const y = rawOp(
      'BiasAdd',
      [attr.type('T'), attr.string('data_format', 'NHWC')],
      [mm(xi, wi, false, false), bi],
    )[0];
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved;
        const db = rawOp('BiasAddGrad', [attr.type('T'), attr.string('data_format', 'NHWC')], [dy])[0];
        return [mm(dy, sw, false, true), mm(sx, dy, true, false), db];
      },
    };
  });
  return f(x, w, b) as tf.Tensor2D;
}

/** Identity whose gradient is zero (tfjs has no stopGradient). */
export function detach<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...args: unknown[]) => {
    const xi = args[0] as tf.Tensor;
    return { value: tf.clone(xi), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  });
  return f(x) as T;
}

/**
 * Squeeze-and-excitation as one custom-gradient node (native backend):
 *   s = sigmoid([act(mean_hw(x) W1 + b1) ; d] W2 + b2),  y = x * s
 * The backward pass needs three full-size kernels (dy*x summed over H, W; dy*s plus the broadcast
 * squeeze gradient) where tfjs' per-op gradients need about six, and a few small ones
 * (SigmoidGrad / ReluGrad / BiasAddGrad / MatMul) for the excitation MLP.
 * `domain` ([N] floats) is appended to the hidden vector when given (DASE).
 */
export function squeezeExcite(
  x: tf.Tensor4D,
  w1: tf.Tensor2D,
  b1: tf.Tensor1D,
  w2: tf.Tensor2D,
  b2: tf.Tensor1D,
  attnActivation: 'relu' | 'sigmoid',
  domain?: tf.Tensor1D,
): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const hidden = w1.shape[1];
  const T = (): OpAttr => attr.type('T');
  const biasAdd = (a: tf.Tensor, b: tf.Tensor): tf.Tensor =>
    rawOp('BiasAdd', [T(), attr.string('data_format', 'NHWC')], [a, b])[0];
  const biasGrad = (g: tf.Tensor): tf.Tensor =>
    rawOp('BiasAddGrad', [T(), attr.string('data_format', 'NHWC')], [g])[0];
  const f = tf.customGrad((...args: unknown[]) => {
    const inputs = args.slice(0, domain ? 6 : 5) as tf.Tensor[];
    const save = args[inputs.length] as (ts: tf.Tensor[]) => void;
    const [xi, w1i, b1i, w2i, b2i, di] = inputs;
    const m = tf.mean(xi, [1, 2]);
    const a1 = biasAdd(mm(m, w1i, false, false), b1i);
    const hid = attnActivation === 'relu' ? rawOp('Relu', [T()], [a1])[0] : tf.sigmoid(a1);
    const hc = di ? tf.concat([hid, tf.reshape(di, [n, 1])], 1) : hid;
    const s = tf.sigmoid(biasAdd(mm(hc, w2i, false, false), b2i));
    const s4 = tf.reshape(s, [n, 1, 1, c]);
    save([xi, m, hid, hc, s4, w1i, w2i]);
    return {
      value: tf.mul(xi, s4),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sm, sh, shc, ss4, sw1, sw2] = saved;
        const ds = tf.reshape(tf.sum(tf.mul(dy, sx), [1, 2]), [n, c]);
        const da2 = rawOp('SigmoidGrad', [T()], [tf.reshape(ss4, [n, c]), ds])[0];
        const dw2 = mm(shc, da2, true, false);
        const db2 = biasGrad(da2);
        let dh = mm(da2, sw2, false, true);
        if (di) dh = tf.slice(dh, [0, 0], [n, hidden]);
        const da1 =
          attnActivation === 'relu'
            ? rawOp('ReluGrad', [T()], [dh, sh])[0]
            : rawOp('SigmoidGrad', [T()], [sh, dh])[0];
        const dw1 = mm(sm, da1, true, false);
        const db1 = biasGrad(da1);
        const dm = tf.reshape(tf.mul(mm(da1, sw1, false, true), 1 / (h * w)), [n, 1, 1, c]);
        const dx = tf.add(tf.mul(dy, ss4), dm);
        const grads = [dx, dw1, db1, dw2, db2];
        if (di) grads.push(tf.zeros([n]));
        return grads;
      },
    };
  });
  return (domain ? f(x, w1, b1, w2, b2, domain) : f(x, w1, b1, w2, b2)) as tf.Tensor4D;
}
