/**
 * Squeeze-and-excitation, optionally domain-aware (one class, as the authors' `SEModule`).
 *
 * SE (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018):
 *   s = sigmoid(W2 act(W1 avgpool(x) + b1) + b2);  y = x * s       (W1: C -> C/r, W2: C/r -> C)
 * DASE (Lu et al., arXiv 1812.04275; authors' code `models/networks/se_module.py`, `SEModule`):
 *   h = act(W1 avgpool(x) + b1);  s = sigmoid(W2 [h ; d] + b2);  y = x * s
 *   with d the domain scalar of the sample (sketch 0, photo 1) and W2: C/r + 1 -> C.
 * The hidden activation `act` is the authors' sigmoid (`self.activate = nn.Sigmoid()`, used in both
 * modes) unless `attnActivation: 'relu'` asks for Hu et al.'s ReLU, so SE and DASE differ only by the
 * domain input. Parameters follow Cadene's `se_module.fc1` / `fc2` names (1x1 convs there, [in, out]
 * matrices here).
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { isNativeBackend } from '../backend';
import { dense, spatialMean, squeezeExcite } from '../ops';
import { ParamStore, linearInit } from '../params';
import { Rng } from '../rng';
import { ATTN_ACTIVATIONS, AttentionModule, AttnActivation, BlockContext, BlockEntry } from './types';

/** The options of `se` (and of `dase`, which adds its stages): the yaml's `model.<option>`. */
export const SeOptionsSchema = z
  .object({
    /** Reduction ratio r: hidden width max(1, floor(C / r)) (authors' se_module.py: 16). */
    seReduction: z.number().int().positive().default(16),
    /**
     * Hidden activation of the excitation, the same for SE and DASE so that the block axis changes only
     * the domain input: 'sigmoid' (the authors' se_module.py) or 'relu' (Hu et al., Cadene's SE-ResNeXt).
     */
    attnActivation: z.enum(ATTN_ACTIVATIONS as [AttnActivation, ...AttnActivation[]]).default('sigmoid'),
  })
  .strict();
export type SeOptions = z.output<typeof SeOptionsSchema>;

const SE_DEFAULTS = SeOptionsSchema.parse({});
export const DEFAULT_SE_REDUCTION: number = SE_DEFAULTS.seReduction;
export const DEFAULT_ATTN_ACTIVATION: AttnActivation = SE_DEFAULTS.attnActivation;

export interface SEBlockArgs extends BlockContext, Partial<SeOptions> {
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

function checkedActivation(v: AttnActivation | undefined): AttnActivation {
  const act = v ?? DEFAULT_ATTN_ACTIVATION;
  if (!ATTN_ACTIVATIONS.includes(act)) {
    throw new Error(`unknown attnActivation "${String(act)}" (known: ${ATTN_ACTIVATIONS.join(', ')})`);
  }
  return act;
}

export class SEModule implements AttentionModule {
  static readonly className = 'SEModule';
  readonly channels: number;
  readonly seReduction: number;
  readonly hidden: number;
  readonly domainAware: boolean;
  readonly attnActivation: AttnActivation;
  readonly store: ParamStore;
  private readonly w1: tf.Variable;
  private readonly b1: tf.Variable;
  private readonly w2: tf.Variable;
  private readonly b2: tf.Variable;

  constructor(args: SEBlockArgs) {
    assertPositiveInteger(args.channels, 'channels');
    if (args.seReduction !== undefined) assertPositiveInteger(args.seReduction, 'seReduction');
    this.channels = args.channels;
    this.seReduction = args.seReduction ?? DEFAULT_SE_REDUCTION;
    this.hidden = Math.max(1, Math.floor(this.channels / this.seReduction));
    this.domainAware = args.domainAware ?? false;
    this.attnActivation = checkedActivation(args.attnActivation);
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
        this.attnActivation,
        d,
      );
    }
    let h: tf.Tensor2D = dense(spatialMean(x), this.w1 as tf.Tensor2D, this.b1 as tf.Tensor1D);
    h = this.attnActivation === 'relu' ? tf.relu(h) : tf.sigmoid(h);
    if (this.domainAware) h = tf.concat([h, tf.reshape(domain as tf.Tensor, [n, 1])], 1);
    const s = tf.sigmoid(dense(h, this.w2 as tf.Tensor2D, this.b2 as tf.Tensor1D));
    return tf.mul(x, tf.reshape(s, [n, 1, 1, c]));
  }

  getConfig(): Record<string, unknown> {
    return {
      className: SEModule.className,
      channels: this.channels,
      seReduction: this.seReduction,
      domainAware: this.domainAware,
      attnActivation: this.attnActivation,
    };
  }
}

/** `se`: plain squeeze-excite in every residual unit (no domain input). */
export const seBlock: BlockEntry<typeof SeOptionsSchema> = {
  description: 'squeeze-and-excitation (Hu et al. 2018) in every residual unit',
  options: SeOptionsSchema,
  recordedForEveryBlock: true,
  create: (channels, ctx, options) => new SEModule({ ...ctx, ...options, channels, domainAware: false }),
  resolve: (options) => ({ ...options, domainAwareStages: [] }),
};
