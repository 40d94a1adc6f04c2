/** Named parameters and buffers of a model, with the initialisers used by this package. */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from './rng';

let storeCounter = 0;

/**
 * Holds tf.Variables by hierarchical name (`stage1.block0.conv1.weight`). Trainable parameters and
 * non-trainable buffers (BatchNorm running statistics) are kept apart. Variable names registered with
 * the tfjs engine carry a per-store prefix, so several models can live in one process.
 */
export class ParamStore {
  readonly params = new Map<string, tf.Variable>();
  readonly buffers = new Map<string, tf.Variable>();
  /** Names of parameters exempt from weight decay. */
  readonly noDecay = new Set<string>();
  private readonly prefix = `sbir${storeCounter++}/`;

  addParam(name: string, init: tf.Tensor, opts: { decay?: boolean } = {}): tf.Variable {
    this.checkNew(name);
    const v = tf.variable(init, true, this.prefix + name);
    init.dispose();
    this.params.set(name, v);
    if (opts.decay === false) this.noDecay.add(name);
    return v;
  }

  addBuffer(name: string, init: tf.Tensor): tf.Variable {
    this.checkNew(name);
    const v = tf.variable(init, false, this.prefix + name + ':buffer');
    init.dispose();
    this.buffers.set(name, v);
    return v;
  }

  /** The engine-level name of a parameter's variable (keys of tf.variableGrads results). */
  engineName(name: string): string {
    return this.prefix + name;
  }

  /** Name of a parameter from its engine-level variable name. */
  localName(engineName: string): string {
    return engineName.startsWith(this.prefix) ? engineName.slice(this.prefix.length) : engineName;
  }

  /** Parameter count (trainable only). */
  numParams(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const v of this.buffers.values()) v.dispose();
    this.params.clear();
    this.buffers.clear();
  }

  private checkNew(name: string): void {
    if (!name) throw new Error('parameter name must be non-empty');
    if (this.params.has(name) || this.buffers.has(name))
      throw new Error(`duplicate parameter name "${name}"`);
  }
}

/** He/Kaiming normal for a conv filter [kh, kw, in, out], fan-out mode (as torchvision's ResNet). */
export function convInit(rng: Rng, kh: number, kw: number, cin: number, cout: number): tf.Tensor4D {
  const std = Math.sqrt(2 / (kh * kw * cout));
  return tf.tensor4d(rng.normalArray(kh * kw * cin * cout, std), [kh, kw, cin, cout]);
}

/** PyTorch's default Linear init: U(-1/sqrt(in), 1/sqrt(in)) for weight [in, out] (and bias [out]). */
export function linearInit(rng: Rng, cin: number, cout: number): { w: tf.Tensor2D; b: tf.Tensor1D } {
  const bound = 1 / Math.sqrt(cin);
  return {
    w: tf.tensor2d(rng.uniformArray(cin * cout, bound), [cin, cout]),
    b: tf.tensor1d(rng.uniformArray(cout, bound)),
  };
}
