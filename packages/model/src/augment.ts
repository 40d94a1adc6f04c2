/**
 * Input pipeline on the backend: uint8 NHWC RGB -> float, optional augmentation, resize to the
 * network input, normalisation with the ImageNet mean/std (what ImageNet-trained weights expect;
 * harmless from scratch).
 *
 * Augmentation is one `CropAndResize` kernel for the whole batch: each sample gets its own box
 * (random resized crop, torchvision's RandomResizedCrop sampling) and a horizontal flip is a box with
 * x1 > x2 (TensorFlow's documented crop_and_resize behaviour), so crop, flip and resize happen in a
 * single pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from './rng';

export interface ImageBatchLike {
  images: Uint8Array;
  n: number;
  height: number;
  width: number;
}

export interface AugmentOptions {
  /** Probability of a horizontal flip. Default 0.5. */
  flipProb?: number;
  /** Random resized crop area fraction range. Default [0.6, 1] (authors' sketch augmentation). */
  cropScale?: [number, number];
  /** Random resized crop aspect-ratio range. Default [3/4, 4/3]. */
  cropRatio?: [number, number];
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/** Crop boxes [y1, x1, y2, x2] in normalised coordinates, one per sample (flip = x1 > x2). */
export function sampleAugmentBoxes(n: number, rng: Rng, opts: AugmentOptions = {}): Float32Array {
  const [smin, smax] = opts.cropScale ?? [0.6, 1];
  const [rmin, rmax] = opts.cropRatio ?? [3 / 4, 4 / 3];
  const flipProb = opts.flipProb ?? 0.5;
  const boxes = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    let h = 1;
    let w = 1;
    for (let attempt = 0; attempt < 10; attempt++) {
      const area = smin + (smax - smin) * rng.uniform();
      const logr = Math.log(rmin) + (Math.log(rmax) - Math.log(rmin)) * rng.uniform();
      const r = Math.exp(logr);
      const cw = Math.sqrt(area * r);
      const ch = Math.sqrt(area / r);
      if (cw <= 1 && ch <= 1) {
        w = cw;
        h = ch;
        break;
      }
    }
    const y1 = (1 - h) * rng.uniform();
    const x1 = (1 - w) * rng.uniform();
    const flip = rng.uniform() < flipProb;
    boxes[i * 4] = y1;
    boxes[i * 4 + 2] = y1 + h;
    boxes[i * 4 + 1] = flip ? x1 + w : x1;
    boxes[i * 4 + 3] = flip ? x1 : x1 + w;
  }
  return boxes;
}

function checkBatch(b: ImageBatchLike): void {
  const expect = b.n * b.height * b.width * 3;
  if (b.images.length !== expect) {
    throw new Error(`batch.images has ${b.images.length} bytes, expected n*h*w*3 = ${expect}`);
  }
}

/**
 * uint8 batch -> normalised float NHWC [n, size, size, 3]. With `augment`, boxes are drawn from `rng`.
 */
export function prepareInput(
  batch: ImageBatchLike,
  size: number,
  augment?: { rng: Rng; options?: AugmentOptions },
): tf.Tensor4D {
  checkBatch(batch);
  return tf.tidy(() => {
    const raw = tf.tensor4d(Int32Array.from(batch.images), [batch.n, batch.height, batch.width, 3], 'int32');
    let x = tf.cast(raw, 'float32') as tf.Tensor4D;
    if (augment) {
      const boxes = tf.tensor2d(sampleAugmentBoxes(batch.n, augment.rng, augment.options), [batch.n, 4]);
      const idx = tf.tensor1d(
        Int32Array.from({ length: batch.n }, (_, i) => i),
        'int32',
      );
      x = tf.image.cropAndResize(x, boxes, idx, [size, size], 'bilinear');
    } else if (batch.height !== size || batch.width !== size) {
      x = tf.image.resizeBilinear(x, [size, size], false, true);
    }
    const mean = tf.tensor1d(IMAGENET_MEAN.map((m) => m * 255));
    const invStd = tf.tensor1d(IMAGENET_STD.map((s) => 1 / (s * 255)));
    return tf.mul(tf.sub(x, mean), invStd) as tf.Tensor4D;
  });
}
