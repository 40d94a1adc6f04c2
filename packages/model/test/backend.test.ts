import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAMES, CPU_BACKEND_WARNING, gpuMayBePresent, initBackend } from '../src/backend';
import { conv2d } from '../src/conv';
import { createLearner } from '../src/learner';
import { maxRelErr, smallValues, toArray } from './helpers';

afterAll(async () => {
  await initBackend('tensorflow', { quiet: true });
});

const gpuInstalled = ((): boolean => {
  try {
    require.resolve('@tensorflow/tfjs-node-gpu');
    return true;
  } catch {
    return false;
  }
})();

describe('initBackend', () => {
  it('auto picks the CPU build of TensorFlow unless a GPU driver is there and the GPU build installed', async () => {
    const info = await initBackend('auto', { quiet: true });
    expect(info.name).toBe(gpuMayBePresent() && gpuInstalled ? 'tensorflow-gpu' : 'tensorflow');
    expect(info.requested).toBe('auto');
    expect(info.tfVersion).toMatch(/^2\.\d+\.\d+/);
    expect(tf.getBackend()).toBe('tensorflow');
    expect(info.threads).toBeGreaterThan(0);
    if (process.env.TF_NUM_INTRAOP_THREADS) {
      expect(info.threads).toBe(Number(process.env.TF_NUM_INTRAOP_THREADS));
      expect(info.threadSource).toBe('TF_NUM_INTRAOP_THREADS');
    }
  });

  // Where npm run native:gpu has run, the package is there and this message cannot appear.
  (gpuInstalled ? it.skip : it)(
    'tensorflow-gpu fails with one line explaining how to install it',
    async () => {
      const err = await initBackend('tensorflow-gpu').catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).not.toContain('\n');
      expect((err as Error).message).toMatch(
        /@tensorflow\/tfjs-node-gpu is not installed; install it with: npm run native:gpu/,
      );
    },
  );

  it('rejects unknown names listing the valid ones', async () => {
    expect(BACKEND_NAMES).toEqual(['auto', 'tensorflow', 'tensorflow-gpu', 'cpu']);
    await expect(initBackend('webgpu' as never)).rejects.toThrow(
      'unknown backend "webgpu" (known: auto, tensorflow, tensorflow-gpu, cpu)',
    );
  });

  it('cpu: warns loudly; conv gradients and a short training run match the native backend', async () => {
    const info = await initBackend('cpu', { quiet: true });
    expect(info.name).toBe('cpu');
    expect(info.warning).toBe(CPU_BACKEND_WARNING);
    expect(info.warning).toMatch(/training image/);
    // conv2d gradients vs tfjs' own kernels on the cpu backend, odd/even sizes, strides, kernels
    for (const [h, k, s, ci, co] of [
      [7, 3, 2, 2, 3],
      [8, 3, 2, 3, 2],
      [8, 1, 2, 2, 4],
      [6, 3, 1, 2, 2],
      [9, 7, 2, 3, 2],
    ]) {
      const x = tf.tensor4d(smallValues(2 * h * h * ci, h + k), [2, h, h, ci]);
      const w = tf.tensor4d(smallValues(k * k * ci * co, s + 7), [k, k, ci, co]);
      const pads = (kk: number): [number, number][] => [
        [0, 0],
        [(kk - 1) / 2, (kk - 1) / 2],
        [(kk - 1) / 2, (kk - 1) / 2],
        [0, 0],
      ];
      const loss = (fn: (a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor4D) => (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(fn(a as tf.Tensor4D, b as tf.Tensor4D))) as tf.Scalar;
      const ours = tf.tidy(() =>
        tf
          .grads(loss((a, b) => conv2d(a, b, { stride: s, pad: (k - 1) / 2 })))([x, w])
          .map(toArray),
      );
      const ref = tf.tidy(() =>
        tf
          .grads(loss((a, b) => tf.conv2d(tf.pad(a, pads(k)), b, s, 'valid')))([x, w])
          .map(toArray),
      );
      ours.forEach((g, i) => expect(maxRelErr(g, ref[i])).toBeLessThan(1e-4));
      x.dispose();
      w.dispose();
    }
    // The same training run on both backends gives the same losses.
    const run = (): number[] => {
      const tr = createLearner({
        model: {
          backbone: 'resnet-tiny',
          block: 'dase',
          width: 4,
          inputSize: 16,
          embeddingDim: 8,
          numClasses: 2,
        },
        loss: { name: 'mems' },
        optimizer: { name: 'adam', lr: 1e-3, weightDecay: 1e-4, totalSteps: 10 },
        seed: 0,
      });
      const batch = {
        images: Uint8Array.from({ length: 4 * 20 * 20 * 3 }, (_, i) => (i * 37) % 256),
        n: 4,
        height: 20,
        width: 20,
        labels: Int32Array.from([0, 1, 0, 1]),
        domains: Uint8Array.from([0, 0, 1, 1]),
      };
      const losses = [0, 1, 2, 3].map((i) => tr.trainStep(batch, { augment: i % 2 === 0 }).loss);
      tr.dispose();
      return losses;
    };
    const onCpu = run();
    await initBackend('tensorflow', { quiet: true });
    const onNative = run();
    expect(maxRelErr(onCpu, onNative)).toBeLessThan(1e-3);
  });
});
