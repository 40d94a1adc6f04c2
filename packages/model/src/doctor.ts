/** Measurements shared by `model:doctor` and the benchmark. */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import { InputPipelineConfig } from './augment';
import { AttnType } from './blocks/registry';
import { Rng } from './rng';
import { createLearner } from './learner';

export interface TrainRate {
  imagesPerSec: number;
  batch: number;
  size: number;
  steps: number;
  seconds: number;
  /** Process CPU seconds spent in the timed steps. */
  cpuSeconds: number;
  /** Images per process CPU-second (less sensitive than imagesPerSec to other load). */
  imagesPerCpuSec: number;
  backbone: string;
  block: AttnType;
}

export interface TrainRateOptions {
  backbone?: string;
  block?: AttnType;
  width?: number;
  batch?: number;
  size?: number;
  warmup?: number;
  /** Timed steps at least (default 3) ... */
  minSteps?: number;
  /** ... and until this many seconds have passed (default 3). */
  seconds?: number;
  maxSteps?: number;
  embeddingDim?: number;
  numClasses?: number;
  loss?: 'softmax' | 'mems';
  /**
   * Input pipeline of the timed steps. Default `none`: ImageNet normalisation of the uint8 batch and
   * nothing else, the work the PyTorch peers do (bench/torch_bench.py); the learner's own default
   * (`authors`) would also run its test-time sketch crop in every step.
   */
  input?: InputPipelineConfig;
}

/** Training images per second of a small ResNet on random uint8 images (Adam, weight decay). */
export function measureTrainRate(opts: TrainRateOptions = {}): TrainRate {
  const batch = opts.batch ?? 32;
  const size = opts.size ?? 64;
  const classes = opts.numClasses ?? 80;
  const rng = new Rng(1);
  const tr = createLearner({
    model: {
      backbone: opts.backbone ?? 'resnet-tiny',
      block: opts.block ?? 'none',
      width: opts.width ?? 0,
      inputSize: size,
      embeddingDim: opts.embeddingDim ?? 64,
      numClasses: classes,
    },
    loss: { name: opts.loss ?? 'softmax' },
    input: opts.input ?? { name: 'none' },
    optimizer: { name: 'adam', lr: 1e-3, weightDecay: 1e-4, totalSteps: 1000 },
    seed: 0,
  });
  try {
    const images = new Uint8Array(batch * size * size * 3);
    for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
    const b = {
      images,
      n: batch,
      height: size,
      width: size,
      labels: Int32Array.from({ length: batch }, () => rng.int(classes)),
      domains: Uint8Array.from({ length: batch }, (_, i) => i % 2),
    };
    for (let i = 0; i < (opts.warmup ?? 2); i++) tr.trainStep(b);
    const minSteps = opts.minSteps ?? 3;
    const budget = (opts.seconds ?? 3) * 1000;
    const maxSteps = opts.maxSteps ?? 1000;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let steps = 0;
    while (steps < maxSteps && (steps < minSteps || performance.now() - t0 < budget)) {
      tr.trainStep(b);
      steps++;
    }
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const cpuSeconds = (c.user + c.system) / 1e6;
    return {
      imagesPerSec: (steps * batch) / seconds,
      batch,
      size,
      steps,
      seconds,
      cpuSeconds,
      imagesPerCpuSec: (steps * batch) / cpuSeconds,
      backbone: opts.backbone ?? 'resnet-tiny',
      block: opts.block ?? 'none',
    };
  } finally {
    tr.dispose();
  }
}

export interface MatmulRate {
  gflops: number;
  n: number;
  reps: number;
  seconds: number;
  /** Process CPU time / wall time during the measurement: how many cores TensorFlow kept busy. */
  coresUsed: number;
  /** OS threads of the process after the measurement (Linux /proc; null elsewhere). */
  osThreads: number | null;
}

/** Number of OS threads of this process (Linux), else null. */
export function osThreadCount(): number | null {
  try {
    return fs.readdirSync('/proc/self/task').length;
  } catch {
    return null;
  }
}

function syncMatmul(a: tf.Tensor2D, b: tf.Tensor2D): void {
  // (Do not return a typed array from tf.tidy: tidy walks its result looking for tensors.)
  const c = tf.matMul(a, b);
  c.dataSync();
  c.dispose();
}

/** float32 n x n matrix product throughput (2 n^3 flops per product). */
export function measureMatmul(opts: { n?: number; seconds?: number; minReps?: number } = {}): MatmulRate {
  const n = opts.n ?? 1024;
  const rng = new Rng(2);
  const a = tf.tensor2d(rng.normalArray(n * n), [n, n]);
  const b = tf.tensor2d(rng.normalArray(n * n), [n, n]);
  try {
    syncMatmul(a, b);
    const budget = (opts.seconds ?? 1) * 1000;
    const minReps = opts.minReps ?? 3;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let reps = 0;
    while (reps < minReps || performance.now() - t0 < budget) {
      syncMatmul(a, b);
      reps++;
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return {
      gflops: (2 * n ** 3 * reps) / seconds / 1e9,
      n,
      reps,
      seconds,
      coresUsed: (cpu.user + cpu.system) / 1e6 / seconds,
      osThreads: osThreadCount(),
    };
  } finally {
    a.dispose();
    b.dispose();
  }
}
