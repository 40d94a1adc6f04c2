/**
 * Input pipelines on the backend: a uint8 NHWC RGB batch -> float NHWC [n, size, size, 3] for the
 * network, with training-time augmentation and test-time transforms per domain (row i of a batch is a
 * sketch when domains[i] = 0, a photo when 1). Three named pipelines (`InputPipeline.name`):
 *
 * - `authors`: the transforms of datasets/Dataset.py in Ben-Louis/SBIR-DASE-MEMS@589f789.
 *   Training sketches (SketchDataset, phase train): grayscale, invert, RandomResizedCrop(size, scale
 *   0.6-1), RandomHorizontalFlip, RandomRotation(90) with fill 0, RandomErasing(p 0.6, area 0.02-0.2,
 *   aspect ratio 1, value 0) from datasets/otherTransforms.py, invert back. Training photos
 *   (PhotoDataset): resize + horizontal flip. Test sketches: resize to int(1.1 size), centre crop;
 *   test photos: resize. ToTensor only: values in [0, 1], no mean/std. Grayscale and inversion are
 *   linear and commute with crop, flip and resize (no extrapolation here: the crop reads an edge-padded
 *   copy), so one CropAndResize serves the whole batch first; the sketch rows then take the
 *   grayscale, rotation (fill 0 in inverted space = white paper) and erasing on one channel.
 * - `crop-flip`: this project's earlier pipeline, kept for the demo: random resized crop + flip for
 *   both domains, ImageNet mean/std.
 * - `none`: resize only, ImageNet mean/std.
 *
 * Random draws come from the caller's Rng, row by row in batch order (sketch: crop, flip, angle,
 * erasing; photo: flip), so a run is reproducible from its seed and resumable from the Rng state.
 * Crop boxes use pixel-centre geometry (output pixel j of a crop [x0, x0 + w) reads source coordinate
 * x0 + (j + 0.5) w / size - 0.5, as PIL and torchvision's tensor resize), except in `crop-flip`, whose
 * boxes are kept bit for bit as before (corner-aligned).
 *
 * One file on purpose: the input pipelines (authors, crop-flip, none) are built from the same per-row
 * transform kernels and must draw from the generator in the same order.
 */
import { ConfigIssueError } from '@sbir/core';
import * as tf from '@tensorflow/tfjs-core';
import { isNativeBackend } from './backend';
import { attr, rawOp } from './ops';
import { Rng } from './rng';

export interface ImageBatchLike {
  images: Uint8Array;
  n: number;
  height: number;
  width: number;
}

/** A batch whose rows carry their domain (0 = sketch, 1 = photo). */
export interface DomainBatchLike extends ImageBatchLike {
  domains: Uint8Array;
}

export type PipelineName = 'authors' | 'crop-flip' | 'none';
export const PIPELINE_NAMES: readonly PipelineName[] = ['authors', 'crop-flip', 'none'];
/** 'none': x / 255 in [0, 1] (the authors' ToTensor); 'imagenet': then (x - mean) / std. */
export type Normalization = 'none' | 'imagenet';
export const NORMALIZATIONS: readonly Normalization[] = ['none', 'imagenet'];
/** Channel order the network sees for photos; 'bgr' = the authors' flip_channel (TU-Berlin photos). */
export type ChannelOrder = 'rgb' | 'bgr';
export const CHANNEL_ORDERS: readonly ChannelOrder[] = ['rgb', 'bgr'];
/** TensorFlow's ImageProjectiveTransformV3 has no bicubic kernel (the authors rotate bicubic). */
export type RotateInterpolation = 'bilinear' | 'nearest';
export const ROTATE_INTERPOLATIONS: readonly RotateInterpolation[] = ['bilinear', 'nearest'];

type Range = [number, number];

interface PipelineCommon {
  normalize: Normalization;
  photoChannels: ChannelOrder;
}

export interface AuthorsPipeline extends PipelineCommon {
  name: 'authors';
  /** Sketches: RandomResizedCrop area fraction and aspect-ratio (log-uniform) ranges. */
  cropScale: Range;
  cropRatio: Range;
  /** Horizontal flip probability (sketches and photos). */
  flipProb: number;
  /** Sketches: rotation angle uniform in [-rotateDegrees, rotateDegrees] (counter-clockwise > 0). */
  rotateDegrees: number;
  rotateInterpolation: RotateInterpolation;
  /** Sketches: random erasing probability, area fraction range, aspect ratio range (uniform). */
  eraseProb: number;
  eraseScale: Range;
  eraseRatio: Range;
  /** Test sketches: resize to int(testSketchScale * size), centre crop size. */
  testSketchScale: number;
}

export interface CropFlipPipeline extends PipelineCommon {
  name: 'crop-flip';
  cropScale: Range;
  cropRatio: Range;
  flipProb: number;
}

export interface NoAugmentPipeline extends PipelineCommon {
  name: 'none';
}

export type InputPipeline = AuthorsPipeline | CropFlipPipeline | NoAugmentPipeline;
/** A pipeline as a caller gives it: the name, and any parameters to change. */
export type InputPipelineConfig = { name: PipelineName } & Partial<Omit<AuthorsPipeline, 'name'>>;

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];
/** ITU-R 601-2 luma, PIL's convert('L') (torchvision Grayscale). */
const LUMA = [0.299, 0.587, 0.114];

/** Every parameter of a pipeline with its default (the authors' values for `authors`). */
export function pipelineDefaults(name: PipelineName): InputPipeline {
  const common = { photoChannels: 'rgb' as const };
  switch (name) {
    case 'authors':
      return {
        name,
        cropScale: [0.6, 1],
        cropRatio: [3 / 4, 4 / 3],
        flipProb: 0.5,
        rotateDegrees: 90,
        rotateInterpolation: 'bilinear',
        eraseProb: 0.6,
        eraseScale: [0.02, 0.2],
        eraseRatio: [1, 1], // RandomErasing(0.6, (0.02, 0.2), 1): asp_ratio 1, square patches
        testSketchScale: 1.1,
        normalize: 'none',
        ...common,
      };
    case 'crop-flip':
      return {
        name,
        cropScale: [0.6, 1],
        cropRatio: [3 / 4, 4 / 3],
        flipProb: 0.5,
        normalize: 'imagenet',
        ...common,
      };
    case 'none':
      return { name, normalize: 'imagenet', ...common };
    default:
      throw new ConfigIssueError(
        ['augment', 'name'],
        `unknown pipeline "${String(name)}" (known: ${PIPELINE_NAMES.join(', ')})`,
      );
  }
}

function checkRange(key: string, r: unknown, lo: number, hi: number): void {
  const ok =
    Array.isArray(r) && r.length === 2 && r.every((v) => typeof v === 'number' && v >= lo && v <= hi);
  if (!ok || (r as Range)[0] > (r as Range)[1])
    throw new ConfigIssueError(
      ['augment', key],
      `expected [min, max] with ${lo} <= min <= max <= ${hi}, got ${JSON.stringify(r)}`,
    );
}

function checkNumber(key: string, v: unknown, lo: number, hi: number): void {
  if (typeof v !== 'number' || !(v >= lo && v <= hi))
    throw new ConfigIssueError(
      ['augment', key],
      `expected a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`,
    );
}

function checkChoice(key: string, v: unknown, choices: readonly string[]): void {
  if (!choices.includes(v as string))
    throw new ConfigIssueError(
      ['augment', key],
      `expected one of ${choices.join(', ')}, got ${JSON.stringify(v)}`,
    );
}

/** Defaults filled in and every value checked; unknown keys for the named pipeline are errors. */
export function resolveInputPipeline(cfg: InputPipelineConfig): InputPipeline {
  const base = pipelineDefaults(cfg.name) as unknown as Record<string, unknown>;
  for (const key of Object.keys(cfg)) {
    if (!(key in base))
      throw new ConfigIssueError(['augment', key], `not a parameter of pipeline "${cfg.name}"`);
  }
  const p = { ...base, ...cfg } as Record<string, unknown>;
  checkChoice('normalize', p.normalize, NORMALIZATIONS);
  checkChoice('photoChannels', p.photoChannels, CHANNEL_ORDERS);
  if (p.name === 'none') return p as unknown as InputPipeline;
  checkRange('cropScale', p.cropScale, Number.MIN_VALUE, 1);
  checkRange('cropRatio', p.cropRatio, Number.MIN_VALUE, Infinity);
  checkNumber('flipProb', p.flipProb, 0, 1);
  if (p.name === 'authors') {
    checkNumber('rotateDegrees', p.rotateDegrees, 0, 180);
    checkChoice('rotateInterpolation', p.rotateInterpolation, ROTATE_INTERPOLATIONS);
    checkNumber('eraseProb', p.eraseProb, 0, 1);
    checkRange('eraseScale', p.eraseScale, 0, 1);
    checkRange('eraseRatio', p.eraseRatio, Number.MIN_VALUE, Infinity);
    checkNumber('testSketchScale', p.testSketchScale, 1, 4);
  }
  return p as unknown as InputPipeline;
}

/** torchvision RandomResizedCrop sampling: a region (fractions of the source) of area and aspect ratio drawn. */
function sampleCropRegion(
  rng: Rng,
  scale: Range,
  ratio: Range,
): { y: number; x: number; h: number; w: number } {
  const [smin, smax] = scale;
  const [rmin, rmax] = ratio;
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
  return { y: (1 - h) * rng.uniform(), x: (1 - w) * rng.uniform(), h, w };
}

/** Crop options of the `crop-flip` pipeline (also the legacy `sampleAugmentBoxes` options). */
export interface AugmentOptions {
  /** Probability of a horizontal flip. Default 0.5. */
  flipProb?: number;
  /** Random resized crop area fraction range. Default [0.6, 1]. */
  cropScale?: Range;
  /** Random resized crop aspect-ratio range. Default [3/4, 4/3]. */
  cropRatio?: Range;
}

/** `crop-flip` boxes [y1, x1, y2, x2], corner-aligned normalised coordinates, one per sample (flip = x1 > x2). */
export function sampleAugmentBoxes(n: number, rng: Rng, opts: AugmentOptions = {}): Float32Array {
  const boxes = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const { y, x, h, w } = sampleCropRegion(
      rng,
      opts.cropScale ?? [0.6, 1],
      opts.cropRatio ?? [3 / 4, 4 / 3],
    );
    const flip = rng.uniform() < (opts.flipProb ?? 0.5);
    boxes.set([y, flip ? x + w : x, y + h, flip ? x : x + w], i * 4);
  }
  return boxes;
}

/** Per-row random parameters of the `authors` pipeline (training). */
export interface AuthorsDraws {
  /** Crop regions [y1, x1, y2, x2] as fractions of the source image; flip = x1 > x2. Photos: the whole image. */
  regions: Float32Array;
  /** Rotation angle in degrees (counter-clockwise > 0); 0 for photos. */
  angles: Float32Array;
  /** Erased rectangle [y0, x0, y1, x1) in output pixels; all 0 when nothing is erased (and for photos). */
  erase: Int32Array;
}

/** Draws, row by row in batch order, what Dataset.py's random transforms draw for that row's domain. */
export function sampleAuthorsDraws(
  domains: Uint8Array,
  size: number,
  p: AuthorsPipeline,
  rng: Rng,
): AuthorsDraws {
  const n = domains.length;
  const out: AuthorsDraws = {
    regions: new Float32Array(n * 4),
    angles: new Float32Array(n),
    erase: new Int32Array(n * 4),
  };
  for (let i = 0; i < n; i++) {
    const sketch = domains[i] === 0;
    const r = sketch ? sampleCropRegion(rng, p.cropScale, p.cropRatio) : { y: 0, x: 0, h: 1, w: 1 };
    const flip = rng.uniform() < p.flipProb;
    out.regions.set([r.y, flip ? r.x + r.w : r.x, r.y + r.h, flip ? r.x : r.x + r.w], i * 4);
    if (!sketch) continue;
    out.angles[i] = (2 * rng.uniform() - 1) * p.rotateDegrees;
    if (rng.uniform() < p.eraseProb) {
      const rect = sampleErasing(rng, size, p.eraseScale, p.eraseRatio);
      if (rect) out.erase.set(rect, i * 4);
    }
  }
  return out;
}

/** otherTransforms.py RandomErasing.__call__ after its probability test: up to 10 attempts. */
function sampleErasing(rng: Rng, size: number, scale: Range, ratio: Range): number[] | null {
  for (let attempt = 0; attempt < 10; attempt++) {
    const area = (scale[0] + (scale[1] - scale[0]) * rng.uniform()) * size * size;
    const aspect = ratio[0] + (ratio[1] - ratio[0]) * rng.uniform();
    const h = Math.round(Math.sqrt(area * aspect));
    const w = Math.round(Math.sqrt(area / aspect));
    if (w < size && h < size) {
      const x0 = rng.int(size - w + 1);
      const y0 = rng.int(size - h + 1);
      return [y0, x0, y0 + h, x0 + w];
    }
  }
  return null;
}

/**
 * Regions (fractions of an h x w source, flip = x1 > x2) -> CropAndResize boxes on the source padded
 * by one edge pixel on every side, with pixel-centre geometry: output pixel j of a region of width
 * rw pixels starting at x0 reads source coordinate x0 + (j + 0.5) rw / size - 0.5 (clamped to the
 * edge by the padding, as PIL and tf.image.resize do).
 */
export function pixelCentreBoxes(regions: Float32Array, h: number, w: number, size: number): Float32Array {
  const boxes = new Float32Array(regions.length);
  const axis = (a: number, b: number, len: number): [number, number] => {
    const lo = Math.min(a, b) * len;
    const extent = Math.abs(b - a) * len;
    const first = lo + (0.5 * extent) / size - 0.5 + 1; // +1: the padding
    const last = lo + extent - (0.5 * extent) / size - 0.5 + 1;
    const s = first / (len + 1);
    const e = last / (len + 1); // padded length len + 2: coordinate / (len + 2 - 1)
    return a <= b ? [s, e] : [e, s];
  };
  for (let i = 0; i < regions.length; i += 4) {
    const [y1, y2] = axis(regions[i], regions[i + 2], h);
    const [x1, x2] = axis(regions[i + 1], regions[i + 3], w);
    boxes.set([y1, x1, y2, x2], i);
  }
  return boxes;
}

/**
 * ImageProjectiveTransform rows [a0, a1, a2, b0, b1, b2, 0, 0] (output pixel (x, y) reads input
 * (a0 x + a1 y + a2, b0 x + b1 y + b2)) rotating a size x size image about its centre by `angles`
 * degrees counter-clockwise, as PIL's Image.rotate.
 */
export function rotationTransforms(angles: Float32Array, size: number): Float32Array {
  const c = (size - 1) / 2;
  const t = new Float32Array(angles.length * 8);
  for (let i = 0; i < angles.length; i++) {
    const rad = (angles[i] * Math.PI) / 180;
    const cos = Math.cos(rad);
    const sin = Math.sin(rad);
    t.set([cos, -sin, c - cos * c + sin * c, sin, cos, c - sin * c - cos * c, 0, 0], i * 8);
  }
  return t;
}

/**
 * Each image rotated about its centre by its own angle (degrees, counter-clockwise > 0), `fill`
 * outside: one ImageProjectiveTransformV3 kernel on the native backend (tf.image.transform elsewhere).
 */
export function rotateImages(
  x: tf.Tensor4D,
  angles: Float32Array,
  interp: RotateInterpolation,
  fill: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    if (h !== w) throw new Error(`rotateImages: expected square images, got ${h} x ${w}`);
    const t = tf.tensor2d(rotationTransforms(angles, h), [n, 8]);
    if (!isNativeBackend()) {
      // tfjs-backend-cpu 4.22's Transform returns after the first image of a batch (the rest keep the
      // fill value), so one call per image
      const rows = Array.from({ length: n }, (_, i) =>
        tf.image.transform(tf.slice(x, i, 1), tf.slice(t, i, 1), interp, 'constant', fill),
      );
      return rows.length === 1 ? rows[0] : tf.concat(rows, 0);
    }
    const attrs = [
      attr.type('dtype'),
      attr.string('interpolation', interp.toUpperCase()),
      attr.string('fill_mode', 'CONSTANT'),
    ];
    const shape = tf.tensor1d([h, w], 'int32');
    return rawOp('ImageProjectiveTransformV3', attrs, [x, t, shape, tf.scalar(fill)])[0] as tf.Tensor4D;
  });
}

/** Each row's rectangle [y0, x0, y1, x1) (pixels; empty when y0 = y1) set to `value`, built as a mask on the backend. */
export function eraseRects(x: tf.Tensor4D, rects: Int32Array, value: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    const r = tf.tensor2d(rects, [n, 4], 'int32');
    const [y0, x0, y1, x1] = tf.split(r, 4, 1).map((v) => tf.reshape(v, [n, 1, 1, 1]));
    const ys = tf.reshape(tf.range(0, h, 1, 'int32'), [1, h, 1, 1]);
    const xs = tf.reshape(tf.range(0, w, 1, 'int32'), [1, 1, w, 1]);
    const inY = tf.logicalAnd(tf.greaterEqual(ys, y0), tf.less(ys, y1));
    const inX = tf.logicalAnd(tf.greaterEqual(xs, x0), tf.less(xs, x1));
    const inside = tf.broadcastTo(tf.logicalAnd(inY, inX), x.shape);
    return tf.where(inside, tf.fill(x.shape, value), x) as tf.Tensor4D;
  });
}

function checkBatch(b: DomainBatchLike): void {
  const expect = b.n * b.height * b.width * 3;
  if (b.images.length !== expect) {
    throw new Error(`batch.images has ${b.images.length} bytes, expected n*h*w*3 = ${expect}`);
  }
  if (b.domains.length !== b.n)
    throw new Error(`batch.domains has ${b.domains.length} entries, expected ${b.n}`);
}

/** One CropAndResize of the edge-padded batch with per-row regions (fractions of the source). */
function cropRegions(x: tf.Tensor4D, regions: Float32Array, size: number): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const padded = tf.mirrorPad(
    x,
    [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    'symmetric',
  );
  const boxes = tf.tensor2d(pixelCentreBoxes(regions, h, w, size), [n, 4]);
  const idx = tf.tensor1d(
    Int32Array.from({ length: n }, (_, i) => i),
    'int32',
  );
  return tf.image.cropAndResize(padded, boxes, idx, [size, size], 'bilinear');
}

/** Python's round(): halves to the even neighbour. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  if (v - f !== 0.5) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
}

/** Test-time regions of `authors`: sketches resized to int(s * size) and centre-cropped, photos whole. */
export function authorsTestRegions(domains: Uint8Array, size: number, scale: number): Float32Array {
  const big = Math.floor(size * scale); // int(size * 1.1) in Dataset.py
  const top = roundHalfEven((big - size) / 2) / big; // torchvision CenterCrop: int(round((h - size) / 2))
  const regions = new Float32Array(domains.length * 4);
  for (let i = 0; i < domains.length; i++) {
    regions.set(domains[i] === 0 ? [top, top, top + size / big, top + size / big] : [0, 0, 1, 1], i * 4);
  }
  return regions;
}

/** Sketch rows of `authors` training after the crop: grayscale, invert, rotate, erase, invert back. */
function authorsSketchOps(
  x: tf.Tensor4D,
  draws: AuthorsDraws,
  rows: number[],
  p: AuthorsPipeline,
): tf.Tensor4D {
  const n = rows.length;
  const pick = <T extends Float32Array | Int32Array>(a: T, k: number): T => {
    const out = new (a.constructor as new (len: number) => T)(n * k);
    rows.forEach((r, i) => out.set(a.subarray(r * k, (r + 1) * k), i * k));
    return out;
  };
  const [, h, w] = x.shape;
  // luma as one MatMul ([n h w, 3] x [3, 1]): several times faster than mul + sum over channels
  const gray = tf.reshape(tf.matMul(tf.reshape(x, [n * h * w, 3]), tf.tensor2d(LUMA, [3, 1])), [n, h, w, 1]);
  const inverted = tf.sub(255, gray) as tf.Tensor4D;
  // fill and erase with 0 in inverted space: white paper once inverted back (Dataset.py order)
  const rotated = rotateImages(inverted, pick(draws.angles, 1), p.rotateInterpolation, 0);
  const erased = eraseRects(rotated, pick(draws.erase, 4), 0);
  return tf.tile(tf.sub(255, erased), [1, 1, 1, 3]) as tf.Tensor4D;
}

/** `authors` pipeline on a float [n, h, w, 3] batch in 0..255; `rng` given = training transforms. */
function authorsInput(
  x: tf.Tensor4D,
  domains: Uint8Array,
  size: number,
  p: AuthorsPipeline,
  rng?: Rng,
): tf.Tensor4D {
  if (!rng) return cropRegions(x, authorsTestRegions(domains, size, p.testSketchScale), size);
  const draws = sampleAuthorsDraws(domains, size, p, rng);
  const cropped = cropRegions(x, draws.regions, size);
  const sketches: number[] = [];
  const photos: number[] = [];
  domains.forEach((d, i) => (d === 0 ? sketches : photos).push(i));
  if (sketches.length === 0) return cropped;
  const ns = sketches.length;
  // balanced batches from @sbir/data put the sketches first: slices and a concat, no gathers
  const sketchesFirst = sketches[ns - 1] === ns - 1;
  const sketchRows = sketchesFirst ? tf.slice(cropped, 0, ns) : tf.gather(cropped, sketches);
  const sk = authorsSketchOps(sketchRows, draws, sketches, p);
  if (photos.length === 0) return sk;
  if (sketchesFirst) return tf.concat([sk, tf.slice(cropped, ns)], 0);
  const order = [...sketches, ...photos];
  const inverse = new Int32Array(order.length);
  order.forEach((row, k) => (inverse[row] = k));
  return tf.gather(tf.concat([sk, tf.gather(cropped, photos)], 0), inverse) as tf.Tensor4D;
}

/** Whether `cropFlipInput` draws a training crop (else it only resizes, where the size differs). */
function drawsCrop(p: CropFlipPipeline | NoAugmentPipeline, rng?: Rng): rng is Rng {
  return rng !== undefined && p.name === 'crop-flip';
}

/** `crop-flip` and `none`: the earlier pipeline, unchanged (corner-aligned boxes, resize without crop). */
function cropFlipInput(
  x: tf.Tensor4D,
  size: number,
  p: CropFlipPipeline | NoAugmentPipeline,
  rng?: Rng,
): tf.Tensor4D {
  const [n, h, w] = x.shape;
  if (drawsCrop(p, rng)) {
    const boxes = tf.tensor2d(sampleAugmentBoxes(n, rng, p as CropFlipPipeline), [n, 4]);
    const idx = tf.tensor1d(
      Int32Array.from({ length: n }, (_, i) => i),
      'int32',
    );
    return tf.image.cropAndResize(x, boxes, idx, [size, size], 'bilinear');
  }
  return h !== size || w !== size ? tf.image.resizeBilinear(x, [size, size], false, true) : x;
}

function normalise(x: tf.Tensor4D, how: Normalization): tf.Tensor4D {
  if (how === 'none') return tf.div(x, 255) as tf.Tensor4D;
  const mean = tf.tensor1d(IMAGENET_MEAN.map((m) => m * 255));
  const invStd = tf.tensor1d(IMAGENET_STD.map((s) => 1 / (s * 255)));
  return tf.mul(tf.sub(x, mean), invStd) as tf.Tensor4D;
}

/** `normalise` of every byte value in every channel ([b * 3 + c]), computed once by `normalise` itself. */
const byteTables = new Map<string, Float32Array>();

function byteTable(how: Normalization): Float32Array {
  const key = `${tf.getBackend()}:${how}`;
  let table = byteTables.get(key);
  if (!table) {
    const bytes = Float32Array.from({ length: 256 * 3 }, (_, i) => Math.floor(i / 3));
    table = tf.tidy(() => Float32Array.from(normalise(tf.tensor4d(bytes, [1, 1, 256, 3]), how).dataSync()));
    byteTables.set(key, table);
  }
  return table;
}

/**
 * The untransformed batch normalised by table lookup: the same float32 values as `normalise` on the
 * whole batch (each output is a function of one byte and its channel), without two broadcasting
 * kernels over the batch (about 2.7 ms of a 40 ms demo training step, and of every evaluation batch).
 */
function normaliseBytes(batch: DomainBatchLike, how: Normalization): tf.Tensor4D {
  const table = byteTable(how);
  const src = batch.images;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i += 3) {
    out[i] = table[src[i]! * 3]!;
    out[i + 1] = table[src[i + 1]! * 3 + 1]!;
    out[i + 2] = table[src[i + 2]! * 3 + 2]!;
  }
  return tf.tensor4d(out, [batch.n, batch.height, batch.width, 3]);
}

/** Photo rows with their channels reversed (the authors' flip_channel), sketch rows unchanged. */
function photosToBgr(x: tf.Tensor4D, domains: Uint8Array): tf.Tensor4D {
  if (!domains.some((d) => d === 1)) return x;
  const isPhoto = tf.reshape(
    tf.tensor1d(
      Array.from(domains, (d) => d === 1),
      'bool',
    ),
    [domains.length, 1, 1, 1],
  );
  return tf.where(tf.broadcastTo(isPhoto, x.shape), tf.reverse(x, 3), x) as tf.Tensor4D;
}

/**
 * uint8 batch -> float NHWC [n, size, size, 3] through `pipeline`: with `rng`, its training
 * transforms (draws from `rng`); without, its test transforms (deterministic).
 */
export function prepareInput(
  batch: DomainBatchLike,
  size: number,
  pipeline: InputPipeline,
  rng?: Rng,
): tf.Tensor4D {
  checkBatch(batch);
  return tf.tidy(() => {
    // what cropFlipInput would return unchanged goes straight from bytes to normalised values
    const unchanged = batch.height === size && batch.width === size;
    if (pipeline.name !== 'authors' && unchanged && !drawsCrop(pipeline, rng)) {
      const normalised = normaliseBytes(batch, pipeline.normalize);
      return pipeline.photoChannels === 'bgr' ? photosToBgr(normalised, batch.domains) : normalised;
    }
    // uint8 -> float32 on the JS side: exact, and about 5x faster than Int32Array.from + a Cast kernel
    const x = tf.tensor4d(new Float32Array(batch.images), [batch.n, batch.height, batch.width, 3]);
    const shaped =
      pipeline.name === 'authors'
        ? authorsInput(x, batch.domains, size, pipeline, rng)
        : cropFlipInput(x, size, pipeline, rng);
    const normalised = normalise(shaped, pipeline.normalize);
    return pipeline.photoChannels === 'bgr' ? photosToBgr(normalised, batch.domains) : normalised;
  });
}
