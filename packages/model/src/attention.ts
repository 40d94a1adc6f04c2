/**
 * Channel-attention blocks by name (timm's `create_attn` pattern): `none | se | dase`.
 *
 * SE (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018):
 *   s = sigmoid(W2 act(W1 avgpool(x) + b1) + b2);  y = x * s       (W1: C -> C/r, W2: C/r -> C)
 * DASE (Lu et al., arXiv 1812.04275; authors' code `models/networks/se_module.py`, `SEModule`):
 *   h = sigmoid(W1 avgpool(x) + b1);  s = sigmoid(W2 [h ; d] + b2);  y = x * s
 *   with d the domain scalar of the sample (sketch 0, photo 1) and W2: C/r + 1 -> C.
 * The authors' module uses a sigmoid as the hidden activation in both modes (`self.activate =
 * nn.Sigmoid()`); here plain SE defaults to ReLU (the original SE) and DASE to sigmoid (the authors);
 * `hiddenActivation` overrides either.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ParamStore, linearInit } from './params';
import { Rng } from './rng';
import { isNativeBackend } from './backend';
import { dense, spatialMean, squeezeExcite } from './ops';

export type AttnType = 'none' | 'se' | 'dase';
export const ATTN_TYPES: readonly AttnType[] = ['none', 'se', 'dase'];
export type HiddenActivation = 'relu' | 'sigmoid';

export interface SEBlockArgs {
  /** Channels of the feature map the block re-weights. */
  channels: number;
  /** Reduction ratio r (hidden width = max(1, floor(C / r))). Default 16, as SE and the authors. */
  reduction?: number;
  /** Append the domain scalar to the hidden vector (DASE). Default false. */
  domainAware?: boolean;
  /** Hidden activation. Default: 'sigmoid' when domainAware (authors), else 'relu' (Hu et al.). */
  hiddenActivation?: HiddenActivation;
  /** Where to register parameters; a private store is created when omitted. */
  store?: ParamStore;
  /** Parameter name prefix, e.g. `stage1.block0.attn`. */
  name?: string;
  /** Initialisation generator (default seed 0). */
  rng?: Rng;
}

function assertPositiveInteger(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`Expected ${field} to be a positive integer, but got ${String(v)}.`);
  }
}

/** Squeeze-and-excitation, optionally domain-aware. */
export class SEModule {
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
    this.reduction = args.reduction ?? 16;
    this.hidden = Math.max(1, Math.floor(this.channels / this.reduction));
    this.domainAware = args.domainAware ?? false;
    this.hiddenActivation = args.hiddenActivation ?? (this.domainAware ? 'sigmoid' : 'relu');
    if (this.hiddenActivation !== 'relu' && this.hiddenActivation !== 'sigmoid') {
      throw new Error(`unknown hiddenActivation "${String(this.hiddenActivation)}" (known: relu, sigmoid)`);
    }
    this.store = args.store ?? new ParamStore();
    const rng = args.rng ?? new Rng(0);
    const name = args.name ?? 'attn';
    const fc1 = linearInit(rng, this.channels, this.hidden);
    const in2 = this.hidden + (this.domainAware ? 1 : 0);
    const fc2 = linearInit(rng, in2, this.channels);
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

export interface AttnOptions extends Omit<SEBlockArgs, 'channels' | 'domainAware'> {
  /** For 'dase': whether this block is domain-aware (false gives plain SE with the DASE hidden
   *  activation, as the authors' stage 4). Default true. */
  domainAware?: boolean;
}

/**
 * Creates the attention block `type` for a feature map with `channels` channels, or null for
 * 'none' / null (the residual block then skips it).
 */
export function createAttn(
  type: AttnType | null | undefined,
  channels: number,
  opts: AttnOptions = {},
): SEModule | null {
  if (type === null || type === undefined || type === 'none') return null;
  if (type === 'se') return new SEModule({ ...opts, channels, domainAware: false });
  if (type === 'dase') {
    const domainAware = opts.domainAware ?? true;
    return new SEModule({
      ...opts,
      channels,
      domainAware,
      hiddenActivation: opts.hiddenActivation ?? 'sigmoid',
    });
  }
  throw new Error(`unknown attention block "${String(type)}" (known: ${ATTN_TYPES.join(', ')})`);
}
