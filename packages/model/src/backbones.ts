/**
 * Backbone registry (timm's `register_model` / `create_model`). A variant is a plain dict: stages,
 * residual unit, widths, groups, stem and downsample geometry, and the parameter layout of the
 * reference implementation it matches layer for layer (torchvision's ResNet, Cadene's SENet). Any
 * registered attention block (blocks/registry.ts) plugs into every unit, after the last BatchNorm and
 * before the residual addition (as SE-ResNet and Cadene's `SEResNeXtBottleneck`).
 *
 * Parameter names are `backbone.` + the reference's state-dict key (import/layout.ts): torchvision
 * `conv1`, `bn1`, `layer1.0.conv1`, ..., `layer1.0.downsample.0/.1`; Cadene `layer0.conv1`,
 * `layer0.bn1`, `layer1.0.se_module.fc1`, ...; BatchNorm `weight`, `bias`, `running_mean`,
 * `running_var`. Convolutions use PyTorch's symmetric padding (conv.ts).
 *
 * One file on purpose: the backbone registry and the one ResNet/ResNeXt builder that reads its entries
 * share the layout types; a new backbone is one `registerBackbone` call here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { createAttn, parseBlockOptions, resolveBlockConfig } from './blocks/registry';
import { AttentionModule, ResolvedBlockConfig } from './blocks/types';
import { MaxPoolOptions, conv2d, maxPool2d } from './conv';
import { BatchNormVars, batchNorm, relu, spatialMean } from './ops';
import { ParamStore, convInit } from './params';
import { Rng } from './rng';

/** Residual unit: two 3x3 convs (ResNet-18/34) or 1x1 - 3x3 (grouped, strided) - 1x1 x4 (ResNet-50+). */
export type UnitKind = 'basic' | 'bottleneck';

export interface BackboneSpec {
  /** Residual units per stage. */
  layers: number[];
  unit: UnitKind;
  /** Default base width: planes of stage 1 (and the stem's channels); stage i has width * 2^(i-1). */
  width: number;
  /** Groups of the bottleneck's 3x3 conv (ResNeXt cardinality). Default 1. */
  groups?: number;
  /** Bottleneck inner width = floor(planes * baseWidth / 64) * groups (torchvision, Cadene). Default 64. */
  baseWidth?: number;
  /** Stem: one conv (kernel, stride, symmetric pad), BatchNorm, ReLU, optional max-pool. */
  stem: { kernel: number; stride: number; pad: number; pool: MaxPoolOptions | null };
  /** Shortcut projection when shape changes: conv kernel and pad (stride = the unit's). Default 1, 0. */
  downsample?: { kernel: number; pad: number };
  /** Stride of each stage's first unit. Default [1, 2, 2, 2]. */
  stageStrides?: number[];
  /** State-dict layout of the reference: torchvision keeps the stem at the top level, Cadene in `layer0.`. */
  layout: 'torchvision' | 'cadene';
  /** The block used when a config names none (timm's `block_args=dict(attn_layer=...)`). Default 'none'. */
  defaultBlock?: string;
  description?: string;
}

const registry = new Map<string, BackboneSpec>();

/**
 * The options every backbone takes in a model config (`model.<option>`), with their defaults: all
 * variants are dicts for the one ResNet builder below, which reads them. A variant's own numbers
 * (layers, stem, ...) are its spec, not options; an option only some variants took would need a
 * builder that reads it, so there is no per-variant options object.
 */
export const BackboneOptionsSchema = z
  .object({
    /** Base width (stage-1 planes); 0 = the variant's default (timm's "none means default"). */
    width: z.number().int().nonnegative().default(0),
  })
  .strict();

function validateSpec(name: string, spec: BackboneSpec): void {
  const bad = (what: string): never => {
    throw new Error(`backbone "${name}": ${what}`);
  };
  if (
    !Array.isArray(spec.layers) ||
    spec.layers.length === 0 ||
    spec.layers.some((n) => !Number.isInteger(n) || n < 1)
  )
    bad(`layers must be positive integers, got ${JSON.stringify(spec.layers)}`);
  if (spec.unit !== 'basic' && spec.unit !== 'bottleneck')
    bad(`unknown unit "${String(spec.unit)}" (known: basic, bottleneck)`);
  if (spec.layout !== 'torchvision' && spec.layout !== 'cadene')
    bad(`unknown layout "${String(spec.layout)}" (known: torchvision, cadene)`);
  if (spec.stageStrides && spec.stageStrides.length !== spec.layers.length)
    bad('stageStrides must have one entry per stage');
  if (spec.unit === 'basic' && (spec.groups ?? 1) !== 1) bad('basic units have no groups');
}

/** Registers a backbone variant; throws on an empty or duplicate name or an invalid spec. */
export function registerBackbone(name: string, spec: BackboneSpec): void {
  if (!name) throw new Error('backbone name must be non-empty');
  if (registry.has(name)) throw new Error(`backbone "${name}" is already registered`);
  validateSpec(name, spec);
  registry.set(name, { ...spec });
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

const TORCHVISION_STEM = {
  kernel: 7,
  stride: 2,
  pad: 3,
  pool: { kernel: 3, stride: 2, pad: 1, ceilMode: false },
};

registerBackbone('resnet-tiny', {
  layers: [1, 1, 1, 1],
  unit: 'basic',
  width: 32,
  stem: { kernel: 3, stride: 2, pad: 1, pool: null },
  layout: 'torchvision',
  description: 'demo net: 3x3/2 stem, one basic unit per stage (32/64/128/256 at width 32)',
});
registerBackbone('resnet18', {
  layers: [2, 2, 2, 2],
  unit: 'basic',
  width: 64,
  stem: TORCHVISION_STEM,
  layout: 'torchvision',
  description: "ResNet-18 (He et al. 2016), torchvision's layout",
});
registerBackbone('resnet34', {
  layers: [3, 4, 6, 3],
  unit: 'basic',
  width: 64,
  stem: TORCHVISION_STEM,
  layout: 'torchvision',
  description: "ResNet-34, torchvision's layout",
});
registerBackbone('resnet50', {
  layers: [3, 4, 6, 3],
  unit: 'bottleneck',
  width: 64,
  stem: TORCHVISION_STEM,
  layout: 'torchvision',
  description: "ResNet-50 v1.5 (stride on the 3x3 conv), torchvision's resnet50 layer for layer",
});

/** Cadene's SE-ResNeXt (pretrainedmodels `senet.py`): 7x7 stem, ceil-mode pool, 1x1 downsample. */
const CADENE_SE_RESNEXT = {
  unit: 'bottleneck' as const,
  width: 64,
  groups: 32,
  baseWidth: 4,
  stem: { kernel: 7, stride: 2, pad: 3, pool: { kernel: 3, stride: 2, pad: 0, ceilMode: true } },
  downsample: { kernel: 1, pad: 0 },
  layout: 'cadene' as const,
  defaultBlock: 'se',
};
registerBackbone('se_resnext50_32x4d', {
  ...CADENE_SE_RESNEXT,
  layers: [3, 4, 6, 3],
  description: "SE-ResNeXt-50 32x4d, Cadene's pretrainedmodels layout (se_resnext50_32x4d-a260b3a4.pth)",
});
registerBackbone('se_resnext101_32x4d', {
  ...CADENE_SE_RESNEXT,
  layers: [3, 4, 23, 3],
  description:
    "SE-ResNeXt-101 32x4d, the authors' backbone; Cadene's layout (se_resnext101_32x4d-3b2fe3d8.pth)",
});

export interface BackboneConfig {
  /** Registered backbone name. */
  name: string;
  /** Base width (stage-1 planes); undefined or 0 = the variant's default. */
  width?: number;
  /** A registered attention block (`listBlocks()`) in every residual unit. Default: the variant's. */
  block?: string;
  /**
   * The block's options by their yaml names (`seReduction`, ...; its entry holds the defaults). The
   * block picks its own keys, so a whole model config may be passed.
   */
  blockOptions?: Record<string, unknown>;
  /** BatchNorm momentum (PyTorch convention). Default 0.1. */
  bnMomentum?: number;
  store: ParamStore;
  rng: Rng;
}

/** Every effective setting of a backbone (written into config.json), the block's settings included. */
export type ResolvedBackboneConfig = ResolvedBackboneArch & ResolvedBlockConfig;

/** The backbone's own settings (its block's are `ResolvedBlockConfig`). */
export interface ResolvedBackboneArch {
  name: string;
  block: string;
  width: number;
  layers: number[];
  unit: UnitKind;
  groups: number;
  baseWidth: number;
  stageStrides: number[];
  stem: BackboneSpec['stem'];
  downsample: { kernel: number; pad: number };
  /** Where the block sits in a unit and how convolutions pad. */
  blockPosition: 'after-last-bn-before-add';
  padding: 'symmetric (PyTorch)';
  bnMomentum: number;
  bnEpsilon: number;
  pooling: 'global-average';
  layout: BackboneSpec['layout'];
  outChannels: number;
}

interface Conv {
  w: tf.Variable;
  stride: number;
  pad: number;
  groups: number;
}

interface Unit {
  conv: Conv[];
  bn: BatchNormVars[];
  attn: AttentionModule | null;
  downsample: { conv: Conv; bn: BatchNormVars } | null;
}

export interface ForwardContext {
  training: boolean;
  /** [N] float domain scalars (sketch 0, photo 1). */
  domain?: tf.Tensor1D;
  /** Use plain tfjs ops for BatchNorm/ReLU/SE even on the native backend (tests). */
  forcePlain?: boolean;
}

const BN_EPSILON = 1e-5;

/** A ResNet body producing pooled features [N, outChannels]. */
export class ResNetBackbone {
  readonly name: string;
  readonly spec: BackboneSpec;
  readonly width: number;
  readonly outChannels: number;
  readonly block: string;
  private readonly resolved: ResolvedBackboneConfig;
  private readonly store: ParamStore;
  private readonly rng: Rng;
  private readonly stem: { conv: Conv; bn: BatchNormVars };
  private readonly stages: Unit[][] = [];
  private readonly stageOut: number[] = [];
  private readonly bnMomentum: number;

  constructor(cfg: BackboneConfig) {
    this.spec = getBackboneSpec(cfg.name);
    this.name = cfg.name;
    const width = cfg.width === undefined || cfg.width === 0 ? this.spec.width : cfg.width;
    if (!Number.isInteger(width) || width < 1)
      throw new Error(`Expected width to be a positive integer, but got ${width}.`);
    this.width = width;
    this.block = cfg.block ?? this.spec.defaultBlock ?? 'none';
    this.bnMomentum = cfg.bnMomentum ?? 0.1;
    this.store = cfg.store;
    this.rng = cfg.rng;
    const blockOpts = parseBlockOptions(this.block, cfg.blockOptions ?? {}, {
      stages: this.spec.layers.length,
    });
    const attnCfg = resolveBlockConfig(this.block, blockOpts);
    const top = this.spec.layout === 'cadene' ? 'backbone.layer0.' : 'backbone.';
    const { kernel: k, stride, pad } = this.spec.stem;
    this.stem = {
      conv: this.makeConv(`${top}conv1.weight`, k, 3, width, { stride, pad, groups: 1 }),
      bn: this.makeBn(`${top}bn1`, width),
    };
    const strides = this.spec.stageStrides ?? this.spec.layers.map((_, i) => (i === 0 ? 1 : 2));
    let inC = width;
    this.spec.layers.forEach((nUnits, s) => {
      const units: Unit[] = [];
      for (let u = 0; u < nUnits; u++) {
        const p = `backbone.layer${s + 1}.${u}`;
        const unit = this.makeUnit(p, inC, width * 2 ** s, u === 0 ? strides[s]! : 1);
        unit.attn = createAttn(this.block, unit.outC, {
          ...blockOpts,
          store: this.store,
          rng: this.rng,
          name: `${p}.se_module`,
          stage: s + 1,
        });
        units.push(unit);
        inC = unit.outC;
      }
      this.stages.push(units);
      this.stageOut.push(inC);
    });
    this.outChannels = inC;
    this.resolved = {
      name: this.name,
      block: this.block,
      width,
      layers: [...this.spec.layers],
      unit: this.spec.unit,
      groups: this.spec.groups ?? 1,
      baseWidth: this.spec.baseWidth ?? 64,
      stageStrides: strides,
      stem: this.spec.stem,
      downsample: this.spec.downsample ?? { kernel: 1, pad: 0 },
      blockPosition: 'after-last-bn-before-add',
      padding: 'symmetric (PyTorch)',
      ...attnCfg,
      bnMomentum: this.bnMomentum,
      bnEpsilon: BN_EPSILON,
      pooling: 'global-average',
      layout: this.spec.layout,
      outChannels: this.outChannels,
    };
  }

  /** Every effective setting (a fresh copy). */
  getConfig(): ResolvedBackboneConfig {
    return JSON.parse(JSON.stringify(this.resolved)) as ResolvedBackboneConfig;
  }

  private makeUnit(p: string, inC: number, planes: number, stride: number): Unit & { outC: number } {
    const conv: Conv[] = [];
    const bn: BatchNormVars[] = [];
    const add = (i: number, k: number, cin: number, cout: number, o: Omit<Conv, 'w'>): void => {
      conv.push(this.makeConv(`${p}.conv${i}.weight`, k, cin / o.groups, cout, o));
      bn.push(this.makeBn(`${p}.bn${i}`, cout));
    };
    let outC: number;
    if (this.spec.unit === 'basic') {
      outC = planes;
      add(1, 3, inC, planes, { stride, pad: 1, groups: 1 });
      add(2, 3, planes, planes, { stride: 1, pad: 1, groups: 1 });
    } else {
      const groups = this.spec.groups ?? 1;
      const inner = Math.floor((planes * (this.spec.baseWidth ?? 64)) / 64) * groups;
      if (inner < groups) {
        throw new Error(
          `backbone "${this.name}": width ${this.width} leaves no channels per group (inner width ${inner}, ${groups} groups)`,
        );
      }
      outC = planes * 4;
      add(1, 1, inC, inner, { stride: 1, pad: 0, groups: 1 });
      add(2, 3, inner, inner, { stride, pad: 1, groups });
      add(3, 1, inner, outC, { stride: 1, pad: 0, groups: 1 });
    }
    let downsample: Unit['downsample'] = null;
    if (stride !== 1 || inC !== outC) {
      const d = this.spec.downsample ?? { kernel: 1, pad: 0 };
      downsample = {
        conv: this.makeConv(`${p}.downsample.0.weight`, d.kernel, inC, outC, {
          stride,
          pad: d.pad,
          groups: 1,
        }),
        bn: this.makeBn(`${p}.downsample.1`, outC),
      };
    }
    return { conv, bn, attn: null, downsample, outC };
  }

  private makeConv(name: string, k: number, cinPerGroup: number, cout: number, o: Omit<Conv, 'w'>): Conv {
    return { w: this.store.addParam(name, convInit(this.rng, k, k, cinPerGroup, cout)), ...o };
  }

  private makeBn(name: string, c: number): BatchNormVars {
    return {
      gamma: this.store.addParam(`${name}.weight`, tf.ones([c])),
      beta: this.store.addParam(`${name}.bias`, tf.zeros([c])),
      runningMean: this.store.addBuffer(`${name}.running_mean`, tf.zeros([c])),
      runningVar: this.store.addBuffer(`${name}.running_var`, tf.ones([c])),
    };
  }

  private convBn(
    x: tf.Tensor4D,
    c: Conv,
    bn: BatchNormVars,
    ctx: ForwardContext,
    withRelu: boolean,
  ): tf.Tensor4D {
    const y = conv2d(x, c.w as tf.Tensor4D, { stride: c.stride, pad: c.pad, groups: c.groups });
    return batchNorm(y, bn, {
      training: ctx.training,
      relu: withRelu,
      momentum: this.bnMomentum,
      epsilon: BN_EPSILON,
      forcePlain: ctx.forcePlain,
    });
  }

  /** x: normalised NHWC float input. Returns pooled features [N, outChannels]. */
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    return globalAveragePool(this.body(x, ctx), ctx);
  }

  /**
   * Each stage's output map (NHWC, stage 1 first; the last is what `forward` pools), for multi-layer
   * feature fusion (SSGN). The same ops in the same order as `forward`, so its numerics are shared.
   */
  forwardStages(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D[] {
    const maps: tf.Tensor4D[] = [];
    this.body(x, ctx, (h) => maps.push(h));
    return maps;
  }

  /** Stem and residual stages; `onStage` sees the map after each stage. */
  private body(x: tf.Tensor4D, ctx: ForwardContext, onStage?: (h: tf.Tensor4D) => void): tf.Tensor4D {
    const act = <T extends tf.Tensor>(t: T): T => (ctx.forcePlain ? tf.relu(t) : relu(t));
    let h = this.convBn(x, this.stem.conv, this.stem.bn, ctx, true);
    if (this.spec.stem.pool) h = maxPool2d(h, this.spec.stem.pool);
    for (const units of this.stages) {
      for (const unit of units) {
        let y = h;
        unit.conv.forEach((c, i) => {
          y = this.convBn(y, c, unit.bn[i]!, ctx, i < unit.conv.length - 1);
        });
        if (unit.attn) y = unit.attn.apply(y, ctx.domain, { forcePlain: ctx.forcePlain });
        const sc = unit.downsample ? this.convBn(h, unit.downsample.conv, unit.downsample.bn, ctx, false) : h;
        h = act(tf.add(y, sc));
      }
      onStage?.(h);
    }
    return h;
  }

  /** Output channels of each stage (the widths `forwardStages` returns). */
  stageChannels(): number[] {
    return [...this.stageOut];
  }
}

/** Global average pooling of an NHWC map, [N, C] (the native kernel unless `forcePlain`). */
export function globalAveragePool(h: tf.Tensor4D, ctx: Pick<ForwardContext, 'forcePlain'>): tf.Tensor2D {
  return ctx.forcePlain ? tf.mean(h, [1, 2]) : spatialMean(h);
}

/** Creates a registered backbone; fails with 'unknown backbone "x" (known: ...)'. */
export function createBackbone(cfg: BackboneConfig): ResNetBackbone {
  return new ResNetBackbone(cfg);
}
