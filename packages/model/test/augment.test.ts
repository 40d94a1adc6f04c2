/**
 * Input pipelines (augment.ts), each transform against an independent computation: rotation against
 * exact quarter turns and the rotated position of a point, erasing against a pixel loop and the
 * statistics of its draws, the 1.1x centre crop against a direct resize-then-crop, `authors` without
 * mean/std, and the per-domain treatment of one batch.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  InputPipeline,
  eraseRects,
  pipelineDefaults,
  prepareInput,
  resolveInputPipeline,
  rotateImages,
  sampleAuthorsDraws,
} from '../src/augment';
import { Rng } from '../src/rng';
import { useNativeBackend } from './helpers';

beforeAll(useNativeBackend);

/** Deterministic RGB test images, n x size x size x 3. */
function images(n: number, size: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n * size * size * 3 }, () => rng.int(256));
}

const authors = (over: Partial<InputPipeline> = {}): InputPipeline =>
  resolveInputPipeline({ ...pipelineDefaults('authors'), ...over } as InputPipeline);

/** Bilinear resize with pixel-centre geometry and edge clamping, one channel plane, straight from the definition. */
function refResize(src: Float64Array, s: number, out: number): Float64Array {
  const res = new Float64Array(out * out);
  const at = (y: number, x: number): number => src[y * s + x];
  for (let i = 0; i < out; i++) {
    for (let j = 0; j < out; j++) {
      const y = Math.min(Math.max(((i + 0.5) * s) / out - 0.5, 0), s - 1);
      const x = Math.min(Math.max(((j + 0.5) * s) / out - 0.5, 0), s - 1);
      const y0 = Math.floor(y);
      const x0 = Math.floor(x);
      const y1 = Math.min(y0 + 1, s - 1);
      const x1 = Math.min(x0 + 1, s - 1);
      const fy = y - y0;
      const fx = x - x0;
      res[i * out + j] =
        (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
    }
  }
  return res;
}

function plane(img: Uint8Array, row: number, s: number, c: number): Float64Array {
  const p = new Float64Array(s * s);
  for (let k = 0; k < s * s; k++) p[k] = img[(row * s * s + k) * 3 + c];
  return p;
}

describe.each(['tensorflow', 'cpu'])('rotation on the %s backend', (backend) => {
  // 'cpu' takes tf.image.transform; the native backend TensorFlow's ImageProjectiveTransformV3
  beforeAll(() => tf.setBackend(backend));
  afterAll(() => tf.setBackend('tensorflow'));

  it('a quarter turn counter-clockwise moves the top-right corner to the top-left (np.rot90)', () => {
    const s = 7;
    const data = Float32Array.from({ length: s * s }, (_, k) => k);
    const out = tf.tidy(() =>
      rotateImages(tf.tensor4d(data, [1, s, s, 1]), Float32Array.of(90), 'bilinear', -1).dataSync(),
    );
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++) expect(out[y * s + x]).toBeCloseTo(data[x * s + (s - 1 - y)], 4);
  });

  it('rotates every image of a batch by its own angle', () => {
    const s = 12;
    const data = Float32Array.from({ length: 3 * s * s }, (_, k) => (k * 37) % 251);
    const angles = Float32Array.of(17, -71, 90);
    const batch = tf.tidy(() =>
      rotateImages(tf.tensor4d(data, [3, s, s, 1]), angles, 'bilinear', 0).dataSync(),
    );
    for (let i = 0; i < 3; i++) {
      const one = tf.tidy(() =>
        rotateImages(
          tf.tensor4d(data.subarray(i * s * s, (i + 1) * s * s), [1, s, s, 1]),
          angles.subarray(i, i + 1),
          'bilinear',
          0,
        ).dataSync(),
      );
      expect(Array.from(batch.subarray(i * s * s, (i + 1) * s * s))).toEqual(Array.from(one));
    }
  });

  it('moves a blob by the rotation about the image centre and fills the corners', () => {
    const s = 41;
    const c = (s - 1) / 2;
    // a Gaussian blob 12 px right of the centre (sd 1.5 px): its centroid is where it is
    const img = Float32Array.from({ length: s * s }, (_, k) =>
      Math.exp(-(((k % s) - c - 12) ** 2 + (Math.floor(k / s) - c) ** 2) / (2 * 1.5 ** 2)),
    );
    const ones = new Float32Array(s * s).fill(1);
    for (const deg of [30, -55, 90, 0]) {
      const out = tf.tidy(() =>
        rotateImages(tf.tensor4d(img, [1, s, s, 1]), Float32Array.of(deg), 'bilinear', 0).dataSync(),
      );
      let m = 0;
      let my = 0;
      let mx = 0;
      out.forEach((v, k) => {
        m += v;
        my += v * Math.floor(k / s);
        mx += v * (k % s);
      });
      const rad = (deg * Math.PI) / 180;
      // counter-clockwise on screen (y down), as PIL's Image.rotate: x = c + 12 cos, y = c - 12 sin
      expect(mx / m).toBeCloseTo(c + 12 * Math.cos(rad), 1);
      expect(my / m).toBeCloseTo(c - 12 * Math.sin(rad), 1);
    }
    const filled = tf.tidy(() =>
      rotateImages(tf.tensor4d(ones, [1, s, s, 1]), Float32Array.of(45), 'bilinear', 0).dataSync(),
    );
    expect(filled[0]).toBe(0);
    expect(filled[c * s + c]).toBeCloseTo(1, 5);
  });
});

describe('random erasing', () => {
  it('sets exactly the given rectangle of each row', () => {
    const [n, s] = [2, 9];
    const x = new Float32Array(n * s * s * 2).fill(5);
    const rects = Int32Array.of(1, 2, 4, 7, 0, 0, 0, 0); // row 0: rows 1-3, cols 2-6; row 1: nothing
    const out = tf.tidy(() => eraseRects(tf.tensor4d(x, [n, s, s, 2]), rects, 0).dataSync());
    for (let i = 0; i < n; i++)
      for (let y = 0; y < s; y++)
        for (let xx = 0; xx < s; xx++)
          for (let c = 0; c < 2; c++) {
            const erased = i === 0 && y >= 1 && y < 4 && xx >= 2 && xx < 7;
            expect(out[((i * s + y) * s + xx) * 2 + c]).toBe(erased ? 0 : 5);
          }
  });

  it('draws as otherTransforms.py: p 0.6, squares of 2-20 % of the image, inside it; rotation +-90', () => {
    const n = 6000;
    const size = 224;
    const p = authors();
    const domains = new Uint8Array(n); // all sketches
    const d = sampleAuthorsDraws(domains, size, p as Parameters<typeof sampleAuthorsDraws>[2], new Rng(5));
    let erased = 0;
    let areaSum = 0;
    let flips = 0;
    let angleSq = 0;
    const bad: string[] = []; // collected, not one expect per draw (fast)
    for (let i = 0; i < n; i++) {
      const [y0, x0, y1, x1] = d.erase.subarray(i * 4, i * 4 + 4);
      const [ry1, rx1, ry2, rx2] = d.regions.subarray(i * 4, i * 4 + 4);
      if (rx1 > rx2) flips++;
      if ((ry2 - ry1) * Math.abs(rx2 - rx1) < 0.6 - 1e-6) bad.push(`crop area of row ${i}`);
      if (Math.abs(d.angles[i]) > 90) bad.push(`angle of row ${i}`);
      angleSq += d.angles[i] ** 2;
      if (y1 === y0) continue;
      erased++;
      const area = ((y1 - y0) * (x1 - x0)) / (size * size);
      if (y1 - y0 !== x1 - x0) bad.push(`erasing of row ${i} is not square`); // aspect ratio 1
      if (Math.min(y0, x0) < 0 || Math.max(y1, x1) > size) bad.push(`erasing of row ${i} leaves the image`);
      if (area < 0.019 || area > 0.202) bad.push(`erased area ${area} of row ${i}`);
      areaSum += area;
    }
    expect(bad).toEqual([]);
    // binomial sd of the rate: sqrt(0.24 / 6000) = 0.0063; mean area of U(0.02, 0.2): 0.11 (sd/sqrt(3600) = 0.0009)
    expect(Math.abs(erased / n - 0.6)).toBeLessThan(0.025);
    expect(Math.abs(areaSum / erased - 0.11)).toBeLessThan(0.004);
    expect(Math.abs(flips / n - 0.5)).toBeLessThan(0.025);
    expect(Math.abs(Math.sqrt(angleSq / n) - 90 / Math.sqrt(3))).toBeLessThan(1.5);
  });
});

describe('test-time transforms of `authors`', () => {
  it('sketches: resize to int(1.1 size) then centre crop; photos: resize; no mean/std', () => {
    for (const [stored, size] of [
      [40, 20],
      [20, 20],
    ]) {
      const img = images(2, stored, 11);
      const batch = { images: img, n: 2, height: stored, width: stored, domains: Uint8Array.of(0, 1) };
      const out = tf.tidy(() => prepareInput(batch, size, authors()).dataSync());
      const big = Math.floor(size * 1.1); // 22
      const top = (big - size) / 2; // 1
      for (let c = 0; c < 3; c++) {
        const sketch = refResize(plane(img, 0, stored, c), stored, big);
        const photo = refResize(plane(img, 1, stored, c), stored, size);
        for (let y = 0; y < size; y++)
          for (let x = 0; x < size; x++) {
            const o = (row: number): number => out[((row * size + y) * size + x) * 3 + c];
            expect(o(0)).toBeCloseTo(sketch[(y + top) * big + (x + top)] / 255, 4);
            expect(o(1)).toBeCloseTo(photo[y * size + x] / 255, 4);
          }
      }
    }
  });

  it("photoChannels 'bgr' reverses the photo rows' channels only", () => {
    const s = 8;
    const img = images(2, s, 2);
    const batch = { images: img, n: 2, height: s, width: s, domains: Uint8Array.of(0, 1) };
    const rgb = tf.tidy(() => prepareInput(batch, s, authors()).dataSync());
    const bgr = tf.tidy(() => prepareInput(batch, s, authors({ photoChannels: 'bgr' })).dataSync());
    for (let k = 0; k < s * s; k++)
      for (let c = 0; c < 3; c++) {
        expect(bgr[k * 3 + c]).toBe(rgb[k * 3 + c]);
        expect(bgr[(s * s + k) * 3 + c]).toBe(rgb[(s * s + k) * 3 + (2 - c)]);
      }
  });
});

describe('untransformed batches (no crop, no resize)', () => {
  it.each([
    ['imagenet', 'rgb'],
    ['none', 'rgb'],
    ['imagenet', 'bgr'],
  ] as const)(
    'normalise %s (%s) by table: the same float32 values as the kernels',
    (normalize, photoChannels) => {
      const s = 8;
      const batch = { images: images(3, s, 4), n: 3, height: s, width: s, domains: Uint8Array.of(0, 1, 1) };
      const pipeline = resolveInputPipeline({ name: 'none', normalize, photoChannels });
      const ours = tf.tidy(() => prepareInput(batch, s, pipeline).dataSync());
      const ref = tf.tidy(() => {
        const x = tf.tensor4d(Float32Array.from(batch.images), [3, s, s, 3]);
        const mean = tf.tensor1d(IMAGENET_MEAN.map((m) => m * 255));
        const invStd = tf.tensor1d(IMAGENET_STD.map((v) => 1 / (v * 255)));
        const y = normalize === 'none' ? tf.div(x, 255) : tf.mul(tf.sub(x, mean), invStd);
        if (photoChannels === 'rgb') return y.dataSync();
        const photo = tf.reshape(tf.tensor1d([false, true, true], 'bool'), [3, 1, 1, 1]);
        return tf.where(tf.broadcastTo(photo, y.shape), tf.reverse(y, 3), y).dataSync();
      });
      expect(ours.length).toBe(ref.length);
      let differing = 0;
      for (let i = 0; i < ref.length; i++) if (ours[i] !== ref[i]) differing++;
      expect(differing).toBe(0);
    },
  );
});

describe('training transforms of `authors`, per domain', () => {
  const s = 12;
  const domains = Uint8Array.of(0, 1, 1, 0, 1, 0);
  const img = images(domains.length, s, 9);
  const batch = { images: img, n: domains.length, height: s, width: s, domains };
  const pixel = (row: number, y: number, x: number, c: number): number =>
    img[((row * s + y) * s + x) * 3 + c];
  const luma = (row: number, y: number, x: number): number =>
    0.299 * pixel(row, y, x, 0) + 0.587 * pixel(row, y, x, 1) + 0.114 * pixel(row, y, x, 2);
  const identity = {
    cropScale: [1, 1],
    cropRatio: [1, 1],
    rotateDegrees: 0,
    eraseProb: 0,
  } as Partial<InputPipeline>;

  it.each([
    ['interleaved', domains],
    ['sketches first (as balanced batches)', Uint8Array.of(0, 0, 0, 1, 1, 1)],
  ])('sketch rows turn grayscale, photo rows keep their colours; both flip (%s)', (_layout, domains) => {
    const batch = { images: img, n: domains.length, height: s, width: s, domains };
    for (const flipProb of [0, 1]) {
      const p = authors({ ...identity, flipProb } as Partial<InputPipeline>);
      const out = tf.tidy(() => prepareInput(batch, s, p, new Rng(1)).dataSync());
      domains.forEach((d, row) => {
        for (let y = 0; y < s; y++)
          for (let x = 0; x < s; x++) {
            const sx = flipProb ? s - 1 - x : x;
            for (let c = 0; c < 3; c++) {
              const want = d === 0 ? luma(row, y, sx) : pixel(row, y, sx, c);
              expect(out[((row * s + y) * s + x) * 3 + c]).toBeCloseTo(want / 255, 4);
            }
          }
      });
    }
  });

  it('with the defaults: sketches gray and changed, photos exactly as stored or mirrored, seeded', () => {
    const p = authors();
    const a = tf.tidy(() => prepareInput(batch, s, p, new Rng(4)).dataSync());
    const b = tf.tidy(() => prepareInput(batch, s, p, new Rng(4)).dataSync());
    expect(Array.from(a)).toEqual(Array.from(b));
    domains.forEach((d, row) => {
      const at = (y: number, x: number, c: number): number => a[((row * s + y) * s + x) * 3 + c];
      let asStored = true;
      let mirrored = true;
      let gray = true;
      for (let y = 0; y < s; y++)
        for (let x = 0; x < s; x++)
          for (let c = 0; c < 3; c++) {
            asStored &&= Math.abs(at(y, x, c) - pixel(row, y, x, c) / 255) < 1e-4;
            mirrored &&= Math.abs(at(y, x, c) - pixel(row, y, s - 1 - x, c) / 255) < 1e-4;
            gray &&= at(y, x, c) === at(y, x, 0);
          }
      if (d === 1) expect(asStored || mirrored).toBe(true);
      else expect([gray, asStored || mirrored]).toEqual([true, false]);
    });
  });

  it('checks its parameters, naming the field', () => {
    expect(() => resolveInputPipeline({ name: 'authors', eraseProb: 2 })).toThrow(/^augment.eraseProb: /);
    expect(() => resolveInputPipeline({ name: 'none', flipProb: 0.5 })).toThrow(
      /augment.flipProb: not a parameter of pipeline "none"/,
    );
    expect(resolveInputPipeline({ name: 'crop-flip' })).toEqual(pipelineDefaults('crop-flip'));
  });
});
