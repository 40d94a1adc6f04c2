/**
 * Squeeze-and-excitation, optionally domain-aware (one class, as the authors' `SEModule`).
 *
 * SE (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018):
 *   s = sigmoid(W2 act(W1 avgpool(x) + b1) + b2);  y = x * s       (W1: C -> C/r, W2: C/r -> C)
 * DASE (Lu et al., arXiv 1812.04275; authors' code `models/networks/se_module.py`, `SEModule`):
 *   h = act(W1 avgpool(x) + b1);  s = sigmoid(W2 [h ; d] + b2);  y = x * s
 *   with d the domain scalar of the sample (sketch 0, photo 1) and W2: C/r + 1 -> C.
 * The hidden activation `act` is the authors' sigmoid (`self.activate = nn.Sigmoid()`, used in both
 * modes) unless `hiddenActivation: 'relu'` asks for Hu et al.'s ReLU, so SE and DASE differ only by the
 * domain input. Parameters follow Cadene's `se_module.fc1` / `fc2` names (1x1 convs there, [in, out]
 * matrices here).
 */
import * as tf from '@tensorflow/tfjs-core';
import { isNativeBackend } from '../backend';
import { dense, spatialMean, squeezeExcite } from '../ops';
import { ParamStore, linearInit } from '../params';
import { Rng } from '../rng';
import { AttentionModule, BlockEntry, BlockOptions, HIDDEN_ACTIVATIONS, HiddenActivation } from './types';

export const DEFAULT_SE_REDUCTION = 16;
export const DEFAULT_HIDDEN_ACTIVATION: HiddenActivation = 'sigmoid';

export interface SEBlockArgs extends BlockOptions {
  /** Channels of the feature map the block re-weights. */
  channels: number;
  /** Append the domain scalar to the hidden vector (DASE). Default false. */
  domainAware?: boolean;
}

function assertPositiveInteger(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`Expected ${field} to be a positive integer, but got ${String(v)}.`);
  }
}

export function resolveHiddenActivation(v: HiddenActivation | undefined): HiddenActivation {
  const act = v ?? DEFAULT_HIDDEN_ACTIVATION;
  if (!HIDDEN_ACTIVATIONS.includes(act)) {
    throw new Error(`unknown hiddenActivation "${String(act)}" (known: ${HIDDEN_ACTIVATIONS.join(', ')})`);
  }
  return act;
}

export class SEModule implements AttentionModule {
  static readonly className = 'SEModule';
  readonly channels: number;
  readonly reduction: number;
  readonly hidden: number;
  readonly domainAware: boolean;
  readonly hiddenActivation: HiddenActivation;
  readonly store: ParamStore;
  private readonly w1: tf.Variable;
  private readonly b1: tf.Variable;
  private readonly w2: tf.Variable;
  private readonly b2: tf.Variable;

  constructor(args: SEBlockArgs) {
    assertPositiveInteger(args.channels, 'channels');
    if (args.reduction !== undefined) assertPositiveInteger(args.reduction, 'reduction');
    this.channels = args.channels;
    this.reduction = args.reduction ?? DEFAULT_SE_REDUCTION;
    this.hidden = Math.max(1, Math.floor(this.channels / this.reduction));
    this.domainAware = args.domainAware ?? false;
    this.hiddenActivation = resolveHiddenActivation(args.hiddenActivation);
    this.store = args.store ?? new ParamStore();
    const rng = args.rng ?? new Rng(0);
    const name = args.name ?? 'attn';
    const fc1 = linearInit(rng, this.channels, this.hidden);
    const fc2 = linearInit(rng, this.hidden + (this.domainAware ? 1 : 0), this.channels);
    this.w1 = this.store.addParam(`${name}.fc1.weight`, fc1.w);
    this.b1 = this.store.addParam(`${name}.fc1.bias`, fc1.b);
    this.w2 = this.store.addParam(`${name}.fc2.weight`, fc2.w);
    this.b2 = this.store.addParam(`${name}.fc2.bias`, fc2.b);
  }

  /**
   * @param x NHWC feature map.
   * @param domain [N] or [N, 1] float tensor of domain scalars (sketch 0, photo 1); required when
   *   domain-aware, ignored otherwise.
   */
  apply(x: tf.Tensor4D, domain?: tf.Tensor, opts: { forcePlain?: boolean } = {}): tf.Tensor4D {
    const [n, , , c] = x.shape;
    if (this.domainAware && !domain)
      throw new Error('DASE block needs the domain of every sample (sketch 0, photo 1)');
    if (isNativeBackend() && !opts.forcePlain) {
      const d = this.domainAware ? (tf.reshape(domain as tf.Tensor, [n]) as tf.Tensor1D) : undefined;
      return squeezeExcite(
        x,
        this.w1 as tf.Tensor2D,
        this.b1 as tf.Tensor1D,
        this.w2 as tf.Tensor2D,
        this.b2 as tf.Tensor1D,
        this.hiddenActivation,
        d,
      );
    }
    let h: tf.Tensor2D = dense(spatialMean(x), this.w1 as tf.Tensor2D, this.b1 as tf.Tensor1D);
    h = this.hiddenActivation === 'relu' ? tf.relu(h) : tf.sigmoid(h);
    if (this.domainAware) h = tf.concat([h, tf.reshape(domain as tf.Tensor, [n, 1])], 1);
    const s = tf.sigmoid(dense(h, this.w2 as tf.Tensor2D, this.b2 as tf.Tensor1D));
    return tf.mul(x, tf.reshape(s, [n, 1, 1, c]));
  }

  getConfig(): Record<string, unknown> {
    return {
      className: SEModule.className,
      channels: this.channels,
      reduction: this.reduction,
      domainAware: this.domainAware,
      hiddenActivation: this.hiddenActivation,
    };
  }
}

/** `se`: plain squeeze-excite in every residual unit (no domain input). */
export const seBlock: BlockEntry = {
  create: (channels, opts) => new SEModule({ ...opts, channels, domainAware: false }),
  resolve: (opts) => ({
    seReduction: opts.reduction ?? DEFAULT_SE_REDUCTION,
    attnActivation: resolveHiddenActivation(opts.hiddenActivation),
    domainAwareStages: [],
  }),
};
