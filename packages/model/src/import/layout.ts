/**
 * Layout conversion between PyTorch state-dict tensors and this project's parameters.
 *
 * Naming contract (shared by the backbones and the checkpoint importer): every backbone parameter or
 * buffer is named `backbone.` + the PyTorch state-dict key of the same tensor in the reference
 * implementation (torchvision's ResNet, Cadene's SENet / SE-ResNeXt): `backbone.layer1.0.conv2.weight`,
 * `backbone.layer1.0.bn2.running_var`, `backbone.layer1.0.se_module.fc1.bias`, ... BatchNorm keeps
 * PyTorch's names (`weight` = gamma, `bias` = beta, `running_mean`, `running_var`); PyTorch's
 * `num_batches_tracked` has no counterpart (it only matters for momentum = None).
 *
 * Layouts differ by rank only, so a conversion needs nothing but the source tensor and the shape the
 * target parameter has:
 * - conv filter: PyTorch OIHW [out, in/groups, kh, kw] -> TensorFlow HWIO [kh, kw, in/groups, out]
 * - linear weight: PyTorch [out, in] -> ours [in, out]
 * - a 1x1 conv used as a linear map (Cadene's SE `fc1`/`fc2`): [out, in, 1, 1] -> [in, out]
 * - vectors (biases, BatchNorm): unchanged
 */

/** A dense row-major array with its shape (the importer's and the tensor file's common currency). */
export interface LayoutArray {
  shape: number[];
  data: Float32Array;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Transposes a row-major array of `shape` by `perm` (out axis i = in axis perm[i]). */
export function transpose(src: LayoutArray, perm: number[]): LayoutArray {
  const { shape, data } = src;
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i]!;
  }
  const stridesByOutAxis = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let off = 0;
    for (let i = 0; i < rank; i++) off += idx[i]! * stridesByOutAxis[i]!;
    out[o] = data[off]!;
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i]! < outShape[i]!) break;
      idx[i] = 0;
    }
  }
  return { shape: outShape, data: out };
}

/**
 * Converts a PyTorch-layout tensor to the layout of a target parameter of shape `target`, or returns
 * null when no rule of the contract above maps one onto the other (a size mismatch: the importer then
 * reports or skips that tensor).
 */
export function fromTorchLayout(src: LayoutArray, target: number[]): LayoutArray | null {
  const s = src.shape;
  if (s.length === 1 && sameShape(s, target)) return src;
  if (s.length === 2 && target.length === 2 && s[0] === target[1] && s[1] === target[0]) {
    return transpose(src, [1, 0]);
  }
  if (s.length === 4 && target.length === 4) {
    const hwio = [s[2]!, s[3]!, s[1]!, s[0]!];
    return sameShape(hwio, target) ? transpose(src, [2, 3, 1, 0]) : null;
  }
  if (
    s.length === 4 &&
    target.length === 2 &&
    s[2] === 1 &&
    s[3] === 1 &&
    s[0] === target[1] &&
    s[1] === target[0]
  ) {
    return transpose({ shape: [s[0]!, s[1]!], data: src.data }, [1, 0]);
  }
  if (s.length === 0 && target.length === 0) return src;
  return null;
}
