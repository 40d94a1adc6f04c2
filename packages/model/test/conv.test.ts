import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend';
import {
  conv2d,
  hasGroupedConvGradKernel,
  maxPool2d,
  poolOutputSize,
  setGroupedConvGradRoute,
} from '../src/conv';
import { maxRelErr, smallValues, toArray, useNativeBackend } from './helpers';

beforeAll(useNativeBackend);
afterEach(() => setGroupedConvGradRoute('auto'));

const pad4 = (p: number): [number, number][] => [
  [0, 0],
  [p, p],
  [p, p],
  [0, 0],
];

/** The definition: each group convolved on its own (tfjs' conv2d with explicit symmetric padding). */
function splitGroups(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number,
  pad: number,
  groups: number,
): tf.Tensor4D {
  const xs = tf.split(tf.pad(x, pad4(pad)), groups, 3) as tf.Tensor4D[];
  const ws = tf.split(w, groups, 3) as tf.Tensor4D[];
  return tf.concat(
    xs.map((xi, g) => tf.conv2d(xi, ws[g]!, stride, 'valid')),
    3,
  ) as tf.Tensor4D;
}

/** Output and gradients (input, filter) of sum(conv(x, w) * dy). */
function outputAndGrads(
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  x: tf.Tensor4D,
  w: tf.Tensor4D,
): number[][] {
  return tf.tidy(() => {
    const y = conv(x, w);
    const dy = tf.tensor4d(smallValues(y.size, 77), y.shape);
    const g = tf.grads(
      (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), dy)) as tf.Scalar,
    )([x, w]);
    return [toArray(y), ...g.map(toArray)];
  });
}

const CASES = [
  // [n, h, cin, cout, groups, k, stride, pad]
  [2, 8, 8, 8, 4, 3, 1, 1],
  [2, 9, 8, 16, 4, 3, 2, 1],
  [1, 8, 64, 64, 32, 3, 2, 1],
  [2, 7, 6, 6, 3, 1, 1, 0],
] as const;

describe('explicit padding', () => {
  it.each([
    // [h, k, stride, pad]: even and odd sizes, padding rows past the last window
    [8, 3, 2, 1],
    [9, 3, 2, 1],
    [10, 7, 2, 3],
    [11, 3, 3, 1],
  ] as const)('h%i k%i stride %i pad %i: forward and gradients = symmetric padding', (h, k, stride, pad) => {
    const x = tf.tensor4d(smallValues(2 * h * (h + 1) * 3, 5), [2, h, h + 1, 3]);
    const w = tf.tensor4d(smallValues(k * k * 3 * 4, 6), [k, k, 3, 4]);
    const ref = outputAndGrads((a, b) => tf.conv2d(tf.pad(a, pad4(pad)), b, stride, 'valid'), x, w);
    const ours = outputAndGrads((a, b) => conv2d(a, b, { stride, pad }), x, w);
    ours.forEach((v, i) =>
      expect([i, v.length, maxRelErr(v, ref[i]!) < 1e-5]).toEqual([i, ref[i]!.length, true]),
    );
  });
});

describe('grouped convolution', () => {
  it.each(CASES)(
    'n%i h%i %i->%i groups %i k%i stride %i pad %i: forward, input and filter gradients = split-into-groups',
    (n, h, cin, cout, groups, k, stride, pad) => {
      const x = tf.tensor4d(smallValues(n * h * h * cin, 1), [n, h, h, cin]);
      const w = tf.tensor4d(smallValues(k * k * (cin / groups) * cout, 2), [k, k, cin / groups, cout]);
      const ref = outputAndGrads((a, b) => splitGroups(a, b, stride, pad, groups), x, w);
      const routes = hasGroupedConvGradKernel()
        ? (['kernel', 'per-group'] as const)
        : (['per-group'] as const);
      for (const route of routes) {
        setGroupedConvGradRoute(route);
        const ours = outputAndGrads((a, b) => conv2d(a, b, { stride, pad, groups }), x, w);
        ours.forEach((v, i) => expect([route, i, maxRelErr(v, ref[i]!) < 1e-5]).toEqual([route, i, true]));
      }
      // The non-native route (split, convolve, concatenate) gives the same on the cpu backend.
      const onNative = outputAndGrads((a, b) => conv2d(a, b, { stride, pad, groups }), x, w);
      const [xa, wa] = [toArray(x), toArray(w)];
      x.dispose();
      w.dispose();
      return initBackend('cpu', { quiet: true }).then(async () => {
        const xc = tf.tensor4d(xa, [n, h, h, cin]);
        const wc = tf.tensor4d(wa, [k, k, cin / groups, cout]);
        const onCpu = outputAndGrads((a, b) => conv2d(a, b, { stride, pad, groups }), xc, wc);
        onCpu.forEach((v, i) => expect(maxRelErr(v, onNative[i]!)).toBeLessThan(1e-4));
        xc.dispose();
        wc.dispose();
        await useNativeBackend();
      });
    },
    60_000,
  );

  it('rejects a filter that does not fit the groups, naming the shapes', () => {
    const x = tf.zeros([1, 4, 4, 6]) as tf.Tensor4D;
    const w = tf.zeros([3, 3, 4, 6]) as tf.Tensor4D;
    expect(() => conv2d(x, w, { groups: 3, pad: 1 })).toThrow(
      'conv2d: filter [3, 3, 4, 6] with 3 group(s) does not fit 6 input channels',
    );
    tf.dispose([x, w]);
  });
});

describe('PyTorch geometry', () => {
  it('stride-2 convolution pads symmetrically (TensorFlow same would pad 0 top / 1 bottom)', () => {
    const x = tf.tensor4d(smallValues(1 * 8 * 8 * 2, 3), [1, 8, 8, 2]);
    const w = tf.tensor4d(smallValues(3 * 3 * 2 * 3, 4), [3, 3, 2, 3]);
    const ours = tf.tidy(() => toArray(conv2d(x, w, { stride: 2, pad: 1 })));
    const sym = tf.tidy(() => toArray(tf.conv2d(tf.pad(x, pad4(1)), w, 2, 'valid')));
    const same = tf.tidy(() => toArray(tf.conv2d(x, w, 2, 'same')));
    expect(maxRelErr(ours, sym)).toBeLessThan(1e-6);
    expect(maxRelErr(ours, same)).toBeGreaterThan(1e-3);
    tf.dispose([x, w]);
  });

  it("max-pool output sizes follow nn.MaxPool2d (Cadene's ceil mode, torchvision's pad 1)", () => {
    const cadene = { kernel: 3, stride: 2, pad: 0, ceilMode: true };
    const torchvision = { kernel: 3, stride: 2, pad: 1, ceilMode: false };
    // torch: floor/ceil((H + 2p - k) / s) + 1
    expect([112, 32, 31, 16, 7].map((h) => poolOutputSize(h, cadene))).toEqual([56, 16, 15, 8, 3]);
    expect([112, 32, 31, 16, 7].map((h) => poolOutputSize(h, torchvision))).toEqual([56, 16, 16, 8, 4]);
    // PyTorch drops a ceil-mode window that would start in the padding: H 4, k 2, s 2, pad 1 -> 3 not 4.
    expect(poolOutputSize(4, { kernel: 2, stride: 2, pad: 1, ceilMode: true })).toBe(3);
  });

  it('ceil-mode max-pool takes the partial last window over real values only (-inf padding)', () => {
    // One channel, 4x4 of negative values: zero padding would leak 0 into the partial windows.
    const vals = Array.from({ length: 16 }, (_, i) => -1 - i);
    const x = tf.tensor4d(vals, [1, 4, 4, 1]);
    const y = tf.tidy(() => maxPool2d(x, { kernel: 3, stride: 2, ceilMode: true }));
    expect(y.shape).toEqual([1, 2, 2, 1]);
    // windows: rows/cols {0..2} and {2..3}; max of a window of -1-(4r+c) is at its top-left
    expect(toArray(y)).toEqual([-1, -3, -9, -11]);
    tf.dispose([x, y]);
  });
});
