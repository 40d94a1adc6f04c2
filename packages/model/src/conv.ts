/**
 * Convolution and max-pooling with PyTorch's geometry (NHWC tensors, HWIO filters).
 *
 * - Padding is symmetric, as `nn.Conv2d(padding=p)`. TensorFlow's 'same' pads asymmetrically when the
 *   stride is 2 (more at the bottom/right), which shifts every window by one pixel against PyTorch; so
 *   such convolutions pad explicitly and run 'valid'. Where 'same' is the symmetric padding (stride 1,
 *   odd kernel, p = (k - 1) / 2) it is used as is, saving the copy.
 * - Grouped convolution (filter [kh, kw, C / groups, Cout], as ResNeXt's 32 x 4d): on the native
 *   backend one TensorFlow `Conv2D` (its kernels accept grouped filters; tfjs-core's wrapper rejects
 *   them) with `Conv2DBackpropInput` / `Conv2DBackpropFilter` as its gradient. TensorFlow's Eigen CPU
 *   kernels have no grouped gradient ("Gradients for grouped convolutions are not supported on CPU";
 *   the oneDNN kernels, TF_ENABLE_ONEDNN_OPTS=1, and cuDNN have one): a probe on first use decides, and
 *   without it each group's gradient runs as its own ungrouped backprop kernel. Other backends: split
 *   into groups, convolve, concatenate.
 * - Max-pooling pads with -inf and supports ceil mode (`nn.MaxPool2d(ceil_mode=True)`: one more window
 *   at the bottom/right when the last one would be partial, dropped when it would start in padding).
 */
import * as tf from '@tensorflow/tfjs-core';
import { isNativeBackend } from './backend';
import { OpAttr, attr, rawOp } from './ops';

export interface ConvOptions {
  stride?: number;
  /** Symmetric zero padding of H and W (PyTorch's `padding`). Default 0. */
  pad?: number;
  /** Channel groups (PyTorch's `groups`): C and Cout are both divisible by it. Default 1. */
  groups?: number;
}

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];

function spatialPad(top: number, bottom: number, left: number, right: number): Pad4 {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/** Pads x explicitly unless TensorFlow's 'same' is the symmetric padding; returns the TF padding mode. */
function applyPadding(
  x: tf.Tensor4D,
  k: number,
  stride: number,
  pad: number,
): [tf.Tensor4D, 'same' | 'valid'] {
  if (pad === 0) return [x, 'valid'];
  if (stride === 1 && 2 * pad === k - 1) return [x, 'same'];
  return [tf.pad(x, spatialPad(pad, pad, pad, pad)), 'valid'];
}

/** 2-D convolution with PyTorch's padding and groups (see the module comment). */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, opts: ConvOptions = {}): tf.Tensor4D {
  const stride = opts.stride ?? 1;
  const groups = opts.groups ?? 1;
  const [kh, kw, cinPerGroup, cout] = w.shape;
  const cin = x.shape[3];
  if (cinPerGroup * groups !== cin || cout % groups !== 0) {
    throw new Error(
      `conv2d: filter [${w.shape.join(', ')}] with ${groups} group(s) does not fit ${cin} input channels`,
    );
  }
  if (kh !== kw) throw new Error(`conv2d: square kernels only, got ${kh}x${kw}`);
  const [xp, mode] = applyPadding(x, kh, stride, opts.pad ?? 0);
  if (groups === 1)
    return isNativeBackend() ? tf.conv2d(xp, w, stride, mode) : plainConv2d(xp, w, stride, mode);
  if (isNativeBackend()) return groupedConv2dNative(xp, w, stride, mode, groups);
  const xs = tf.split(xp, groups, 3) as tf.Tensor4D[];
  const ws = tf.split(w, groups, 3) as tf.Tensor4D[];
  return tf.concat(
    xs.map((xi, g) => plainConv2d(xi, ws[g]!, stride, mode)),
    3,
  ) as tf.Tensor4D;
}

/**
 * Ungrouped convolution for non-native backends: the filter gradient is computed as a dilated
 * convolution of the input with the output gradient (tfjs-backend-cpu's Conv2DBackpropFilter kernel
 * is about 50x slower than its forward convolution).
 */
function plainConv2d(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, mode: 'same' | 'valid'): tf.Tensor4D {
  const [kh, kw] = w.shape;
  const f = tf.customGrad((...args: unknown[]) => {
    const [xi, wi] = args as [tf.Tensor4D, tf.Tensor4D];
    const save = args[2] as (ts: tf.Tensor[]) => void;
    save([xi, wi]);
    return {
      value: tf.conv2d(xi, wi, stride, mode),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor4D, tf.Tensor4D];
        const g = dy as tf.Tensor4D;
        const dx = tf.conv2dTranspose(g, sw, sx.shape, stride, mode);
        const [, h, wd] = sx.shape;
        const [, oh, ow] = g.shape;
        const padH = mode === 'same' ? Math.max((oh - 1) * stride + kh - h, 0) : 0;
        const padW = mode === 'same' ? Math.max((ow - 1) * stride + kw - wd, 0) : 0;
        const top = Math.floor(padH / 2);
        const left = Math.floor(padW / 2);
        const xp = tf.pad(sx, spatialPad(top, padH - top, left, padW - left));
        const xt = tf.transpose(xp, [3, 1, 2, 0]); // [ci, Hp, Wp, n]
        const ft = tf.transpose(g, [1, 2, 0, 3]); // [oh, ow, n, co]
        const full = tf.conv2d(xt, ft, 1, 'valid', 'NHWC', [stride, stride]); // [ci, >=kh, >=kw, co]
        const dw = tf.transpose(tf.slice(full, [0, 0, 0, 0], [-1, kh, kw, -1]), [1, 2, 0, 3]);
        return [dx, dw];
      },
    };
  });
  return f(x, w) as tf.Tensor4D;
}

function convAttrs(stride: number, mode: 'same' | 'valid'): OpAttr[] {
  return [
    attr.type('T'),
    attr.ints('strides', [1, stride, stride, 1]),
    attr.string('padding', mode.toUpperCase()),
    attr.string('data_format', 'NHWC'),
    attr.bool('use_cudnn_on_gpu', true),
    attr.ints('dilations', [1, 1, 1, 1]),
  ];
}

function backpropInput(shape: number[], w: tf.Tensor, dy: tf.Tensor, attrs: OpAttr[]): tf.Tensor {
  const sizes = tf.tensor1d(shape, 'int32');
  const out = rawOp('Conv2DBackpropInput', attrs, [sizes, w, dy])[0]!;
  sizes.dispose();
  return out;
}

function backpropFilter(x: tf.Tensor, shape: number[], dy: tf.Tensor, attrs: OpAttr[]): tf.Tensor {
  const sizes = tf.tensor1d(shape, 'int32');
  const out = rawOp('Conv2DBackpropFilter', attrs, [x, sizes, dy])[0]!;
  sizes.dispose();
  return out;
}

let groupedGradKernel: boolean | null = null;
let groupedGradRoute: 'auto' | 'kernel' | 'per-group' = 'auto';

/**
 * Chooses how grouped-convolution gradients run on the native backend: 'auto' (the grouped kernel
 * where TensorFlow has one, else per group), or one route forced (tests and benchmarks).
 */
export function setGroupedConvGradRoute(route: 'auto' | 'kernel' | 'per-group'): void {
  groupedGradRoute = route;
}

function useGroupedGradKernel(): boolean {
  if (groupedGradRoute === 'auto') return hasGroupedConvGradKernel();
  return groupedGradRoute === 'kernel';
}

/** Whether TensorFlow here has grouped-convolution gradient kernels (probed once on tiny tensors). */
export function hasGroupedConvGradKernel(): boolean {
  if (groupedGradKernel !== null) return groupedGradKernel;
  groupedGradKernel = tf.tidy(() => {
    try {
      const attrs = convAttrs(1, 'valid');
      const x = tf.ones([1, 1, 1, 2]);
      const dy = tf.ones([1, 1, 1, 2]);
      backpropInput([1, 1, 1, 2], tf.ones([1, 1, 1, 2]), dy, attrs).dataSync();
      backpropFilter(x, [1, 1, 1, 2], dy, attrs).dataSync();
      return true;
    } catch {
      return false;
    }
  });
  return groupedGradKernel;
}

function groupedConv2dNative(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number,
  mode: 'same' | 'valid',
  groups: number,
): tf.Tensor4D {
  const attrs = convAttrs(stride, mode);
  const f = tf.customGrad((...args: unknown[]) => {
    const [xi, wi] = args as [tf.Tensor4D, tf.Tensor4D];
    const save = args[2] as (ts: tf.Tensor[]) => void;
    save([xi, wi]);
    return {
      value: rawOp('Conv2D', attrs, [xi, wi])[0] as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor4D, tf.Tensor4D];
        if (useGroupedGradKernel()) {
          return [backpropInput(sx.shape, sw, dy, attrs), backpropFilter(sx, sw.shape, dy, attrs)];
        }
        const xs = tf.split(sx, groups, 3);
        const ws = tf.split(sw, groups, 3);
        const dys = tf.split(dy, groups, 3);
        const dx = xs.map((xg, g) => backpropInput(xg.shape, ws[g]!, dys[g]!, attrs));
        const dw = xs.map((xg, g) => backpropFilter(xg, ws[g]!.shape, dys[g]!, attrs));
        return [tf.concat(dx, 3), tf.concat(dw, 3)];
      },
    };
  });
  return f(x, w) as tf.Tensor4D;
}

export interface MaxPoolOptions {
  kernel: number;
  stride: number;
  /** Symmetric padding (PyTorch's `padding`), filled with -inf. Default 0. */
  pad?: number;
  /** PyTorch's `ceil_mode`. Default false. */
  ceilMode?: boolean;
}

/** Output length of PyTorch's max-pool along one axis. */
export function poolOutputSize(size: number, o: MaxPoolOptions): number {
  const pad = o.pad ?? 0;
  const span = size + 2 * pad - o.kernel;
  let out = (o.ceilMode ? Math.ceil(span / o.stride) : Math.floor(span / o.stride)) + 1;
  // PyTorch drops a ceil-mode window that would start in the right padding.
  if (o.ceilMode && (out - 1) * o.stride >= size + pad) out--;
  return out;
}

/** Max-pooling with PyTorch's geometry (see the module comment). */
export function maxPool2d(x: tf.Tensor4D, o: MaxPoolOptions): tf.Tensor4D {
  const pad = o.pad ?? 0;
  const [, h, w] = x.shape;
  const extra = (size: number): number =>
    Math.max(0, (poolOutputSize(size, o) - 1) * o.stride + o.kernel - (size + 2 * pad));
  const padded =
    pad === 0 && extra(h) === 0 && extra(w) === 0
      ? x
      : tf.pad(x, spatialPad(pad, pad + extra(h), pad, pad + extra(w)), -Infinity);
  return tf.maxPool(padded, o.kernel, o.stride, 'valid');
}
