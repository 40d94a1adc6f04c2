/**
 * Backbone registry (timm's `register_model` / `create_model` pattern). A variant is a plain spec:
 * blocks per stage, block kind, default base width and stem. All backbones are ResNets in NHWC with
 * BatchNorm, an optional attention block at the end of every residual branch (before the addition,
 * as SE-ResNet and the authors' `SEResNeXtBottleneck`), and global average pooling.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AttnType, ATTN_TYPES, HiddenActivation, SEModule, createAttn } from './attention';
import { BatchNormVars, batchNorm, conv2d, relu, spatialMean } from './ops';
import { ParamStore, convInit } from './params';
import { Rng } from './rng';

export type BlockKind = 'basic' | 'bottleneck';

export interface BackboneSpec {
  /** Residual blocks per stage (four stages). */
  layers: number[];
  /** Basic block (two 3x3 convs) or bottleneck (1x1, 3x3, 1x1 with expansion 4). */
  block: BlockKind;
  /** Default base width: planes of stage 1; stage i has width * 2^(i-1) planes. */
  width: number;
  /** Stem conv kernel and stride; optional 3x3/2 max pool after it. */
  stem: { kernel: number; stride: number; maxPool: boolean };
  /** Stride of each stage's first block. Default [1, 2, 2, 2]. */
  stageStrides?: number[];
  description?: string;
}

const registry = new Map<string, BackboneSpec>();

/** Registers a backbone variant; throws on an empty or duplicate name. */
export function registerBackbone(name: string, spec: BackboneSpec): void {
  if (!name) throw new Error('backbone name must be non-empty');
  if (registry.has(name)) throw new Error(`backbone "${name}" is already registered`);
  if (
    !Array.isArray(spec.layers) ||
    spec.layers.length === 0 ||
    spec.layers.some((n) => !Number.isInteger(n) || n < 1)
  ) {
    throw new Error(
      `backbone "${name}": layers must be positive integers, got ${JSON.stringify(spec.layers)}`,
    );
  }
  if (spec.block !== 'basic' && spec.block !== 'bottleneck') {
    throw new Error(`backbone "${name}": unknown block "${String(spec.block)}" (known: basic, bottleneck)`);
  }
  const strides = spec.stageStrides ?? spec.layers.map((_, i) => (i === 0 ? 1 : 2));
  if (strides.length !== spec.layers.length) {
    throw new Error(`backbone "${name}": stageStrides must have one entry per stage`);
  }
  registry.set(name, { ...spec, stageStrides: strides });
}

/** Registered backbone names, optionally filtered by a glob with `*` (e.g. 'resnet*'). */
export function listBackbones(pattern?: string): string[] {
  const names = [...registry.keys()].sort();
  if (!pattern) return names;
  const re = new RegExp(
    '^' +
      pattern
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
  );
  return names.filter((n) => re.test(n));
}

export function getBackboneSpec(name: string): BackboneSpec {
  const spec = registry.get(name);
  if (!spec) throw new Error(`unknown backbone "${name}" (known: ${listBackbones().join(', ')})`);
  return spec;
}

registerBackbone('resnet-tiny', {
  layers: [1, 1, 1, 1],
  block: 'basic',
  width: 32,
  stem: { kernel: 3, stride: 2, maxPool: false },
  description: 'demo net: 3x3/2 stem, one basic block per stage (32/64/128/256 at width 32)',
});
registerBackbone('resnet18', {
  layers: [2, 2, 2, 2],
  block: 'basic',
  width: 64,
  stem: { kernel: 7, stride: 2, maxPool: true },
  description: 'ResNet-18 (He et al. 2016)',
});
registerBackbone('resnet34', {
  layers: [3, 4, 6, 3],
  block: 'basic',
  width: 64,
  stem: { kernel: 7, stride: 2, maxPool: true },
  description: 'ResNet-34',
});
registerBackbone('resnet50', {
  layers: [3, 4, 6, 3],
  block: 'bottleneck',
  width: 64,
  stem: { kernel: 7, stride: 2, maxPool: true },
  description: 'ResNet-50 (bottleneck blocks, expansion 4)',
});

export interface BackboneConfig {
  /** Registered backbone name. */
  name: string;
  /** Base width (stage-1 planes); undefined or 0 = the variant's default. */
  width?: number;
  /** Attention block in every residual block. */
  attn?: AttnType;
  seReduction?: number;
  /** 1-based stages whose blocks are domain-aware when attn = 'dase'. Default [1, 2, 3] (authors). */
  domainAwareStages?: number[];
  /** Overrides the attention hidden activation (see attention.ts). */
  attnActivation?: HiddenActivation;
  /** BatchNorm momentum (PyTorch convention). Default 0.1. */
  bnMomentum?: number;
  store: ParamStore;
  rng: Rng;
}

interface Conv {
  w: tf.Variable;
  stride: number;
}

interface Block {
  conv: Conv[];
  bn: BatchNormVars[];
  attn: SEModule | null;
  shortcut: { conv: Conv; bn: BatchNormVars } | null;
}

export interface ForwardContext {
  training: boolean;
  /** [N] float domain scalars (sketch 0, photo 1). */
  domain?: tf.Tensor1D;
  /** Use plain tfjs ops for BatchNorm/ReLU even on the native backend (tests). */
  forcePlain?: boolean;
}

/** A ResNet body producing pooled features [N, outChannels]. */
export class ResNetBackbone {
  readonly name: string;
  readonly spec: BackboneSpec;
  readonly width: number;
  readonly outChannels: number;
  readonly attn: AttnType;
  readonly domainAwareStages: number[];
  private readonly store: ParamStore;
  private readonly stem: { conv: Conv; bn: BatchNormVars };
  private readonly stages: Block[][] = [];
  private readonly bnMomentum: number;

  constructor(cfg: BackboneConfig) {
    this.spec = getBackboneSpec(cfg.name);
    this.name = cfg.name;
    const width = cfg.width === undefined || cfg.width === 0 ? this.spec.width : cfg.width;
    if (!Number.isInteger(width) || width < 1)
      throw new Error(`Expected width to be a positive integer, but got ${width}.`);
    this.width = width;
    this.attn = cfg.attn ?? 'none';
    if (!ATTN_TYPES.includes(this.attn)) {
      throw new Error(`unknown block "${String(this.attn)}" (known: ${ATTN_TYPES.join(', ')})`);
    }
    this.domainAwareStages = cfg.domainAwareStages ?? [1, 2, 3];
    this.bnMomentum = cfg.bnMomentum ?? 0.1;
    this.store = cfg.store;
    const { store, rng } = cfg;
    const expansion = this.spec.block === 'bottleneck' ? 4 : 1;
    const k = this.spec.stem.kernel;
    this.stem = {
      conv: {
        w: store.addParam('backbone.stem.conv.weight', convInit(rng, k, k, 3, width)),
        stride: this.spec.stem.stride,
      },
      bn: this.makeBn('backbone.stem.bn', width),
    };
    let inC = width;
    const strides = this.spec.stageStrides ?? [1, 2, 2, 2];
    this.spec.layers.forEach((nBlocks, s) => {
      const planes = width * 2 ** s;
      const outC = planes * expansion;
      const blocks: Block[] = [];
      for (let b = 0; b < nBlocks; b++) {
        const stride = b === 0 ? strides[s] : 1;
        const p = `backbone.stage${s + 1}.block${b}`;
        const conv: Conv[] = [];
        const bn: BatchNormVars[] = [];
        if (this.spec.block === 'basic') {
          conv.push({ w: store.addParam(`${p}.conv1.weight`, convInit(rng, 3, 3, inC, planes)), stride });
          bn.push(this.makeBn(`${p}.bn1`, planes));
          conv.push({
            w: store.addParam(`${p}.conv2.weight`, convInit(rng, 3, 3, planes, planes)),
            stride: 1,
          });
          bn.push(this.makeBn(`${p}.bn2`, planes));
        } else {
          conv.push({ w: store.addParam(`${p}.conv1.weight`, convInit(rng, 1, 1, inC, planes)), stride: 1 });
          bn.push(this.makeBn(`${p}.bn1`, planes));
          conv.push({ w: store.addParam(`${p}.conv2.weight`, convInit(rng, 3, 3, planes, planes)), stride });
          bn.push(this.makeBn(`${p}.bn2`, planes));
          conv.push({ w: store.addParam(`${p}.conv3.weight`, convInit(rng, 1, 1, planes, outC)), stride: 1 });
          bn.push(this.makeBn(`${p}.bn3`, outC));
        }
        const domainAware = this.attn === 'dase' && this.domainAwareStages.includes(s + 1);
        const attn = createAttn(this.attn, outC, {
          store,
          rng,
          name: `${p}.attn`,
          reduction: cfg.seReduction,
          domainAware,
          hiddenActivation: cfg.attnActivation,
        });
        let shortcut: Block['shortcut'] = null;
        if (stride !== 1 || inC !== outC) {
          shortcut = {
            conv: { w: store.addParam(`${p}.shortcut.conv.weight`, convInit(rng, 1, 1, inC, outC)), stride },
            bn: this.makeBn(`${p}.shortcut.bn`, outC),
          };
        }
        blocks.push({ conv, bn, attn, shortcut });
        inC = outC;
      }
      this.stages.push(blocks);
    });
    this.outChannels = inC;
  }

  private makeBn(name: string, c: number): BatchNormVars {
    return {
      gamma: this.store.addParam(`${name}.gamma`, tf.ones([c])),
      beta: this.store.addParam(`${name}.beta`, tf.zeros([c])),
      runningMean: this.store.addBuffer(`${name}.running_mean`, tf.zeros([c])),
      runningVar: this.store.addBuffer(`${name}.running_var`, tf.ones([c])),
    };
  }

  private bn(x: tf.Tensor4D, bn: BatchNormVars, ctx: ForwardContext, withRelu: boolean): tf.Tensor4D {
    return batchNorm(x, bn, {
      training: ctx.training,
      relu: withRelu,
      momentum: this.bnMomentum,
      forcePlain: ctx.forcePlain,
    });
  }

  /** x: normalised NHWC float input. Returns pooled features [N, outChannels]. */
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    const act = <T extends tf.Tensor>(t: T): T => (ctx.forcePlain ? tf.relu(t) : relu(t));
    let h = this.bn(
      conv2d(x, this.stem.conv.w as tf.Tensor4D, this.stem.conv.stride),
      this.stem.bn,
      ctx,
      true,
    );
    if (this.spec.stem.maxPool) h = tf.maxPool(h, 3, 2, 'same');
    for (const blocks of this.stages) {
      for (const blk of blocks) {
        let y = h;
        blk.conv.forEach((c, i) => {
          const last = i === blk.conv.length - 1;
          y = this.bn(conv2d(y, c.w as tf.Tensor4D, c.stride), blk.bn[i], ctx, !last);
        });
        if (blk.attn) y = blk.attn.apply(y, ctx.domain, { forcePlain: ctx.forcePlain });
        const sc = blk.shortcut
          ? this.bn(
              conv2d(h, blk.shortcut.conv.w as tf.Tensor4D, blk.shortcut.conv.stride),
              blk.shortcut.bn,
              ctx,
              false,
            )
          : h;
        h = act(tf.add(y, sc));
      }
    }
    return ctx.forcePlain ? tf.mean(h, [1, 2]) : spatialMean(h);
  }
}

/** Creates a registered backbone; fails with 'unknown backbone "x" (known: ...)'. */
export function createBackbone(cfg: BackboneConfig): ResNetBackbone {
  return new ResNetBackbone(cfg);
}
