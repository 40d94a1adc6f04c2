/**
 * Kind `sbir` (the default): backbone + block + embedding head (+ optional code head), i.e. `SbirNet`
 * unchanged, so parameter names, numerics, checkpoints and settings of existing cells stay the same.
 */
import { ForwardContext } from '../backbones';
import { SbirNet } from '../model';
import { ModelKindEntry, RetrievalNet, ResolvedNetConfig, TrainForwardContext } from './types';
import * as tf from '@tensorflow/tfjs-core';

class SbirKindNet implements RetrievalNet {
  constructor(readonly net: SbirNet) {}

  get store() {
    return this.net.store;
  }

  trainForward(x: tf.Tensor4D, ctx: TrainForwardContext) {
    return this.net.forward(x, { training: true, domain: ctx.domain });
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext) {
    return this.net.forward(x, ctx);
  }

  getConfig(): ResolvedNetConfig {
    return { kind: 'sbir', ...this.net.getConfig() };
  }

  dispose(): void {
    this.net.dispose();
  }
}

export const sbirKind: ModelKindEntry = {
  name: 'sbir',
  description: 'backbone + attention block + embedding head, trained by the metric loss (DASE + MEMS)',
  create: (cfg, env) => new SbirKindNet(new SbirNet(cfg, env.rng)),
};
