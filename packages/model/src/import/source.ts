/** What every checkpoint reader returns, and the one error type the importer reports. */

/** Layout family of a source's tensors: PyTorch (OIHW, [out, in]) or Keras (HWIO, [in, out]). */
export type SourceLayout = 'torch' | 'keras';

export interface SourceTensor {
  /** Name in the source, in PyTorch state-dict form (`layer1.0.conv1.weight`). */
  key: string;
  /** Element type in the file (float32, float16, bfloat16, float64, int64, ...). */
  dtype: string;
  shape: number[];
  /** Values as float32, row-major (contiguous), read and checked on demand. */
  read(): Float32Array;
}

export interface SourceCheckpoint {
  /** Reader that parsed the file (`torch-zip`, `torch-legacy`, `safetensors`, `keras-h5`). */
  format: string;
  layout: SourceLayout;
  tensors: SourceTensor[];
  /** Choices the reader made (e.g. which nested dict it took), for the manifest and the console. */
  notes: string[];
}

export interface ReadOptions {
  /** Key of a nested dict to take the tensors from (`state_dict`, `model`, ...). */
  key?: string;
}

/**
 * A checkpoint that cannot be imported; the message is one line naming the file and, where one is
 * to blame, the first offending tensor. `usage` marks errors in the input (exit code 2).
 */
export class CheckpointError extends Error {
  /** A corrupt, truncated or mismatched checkpoint is an input error (exit 2, @sbir/data EXIT). */
  readonly exitCode = 2;
  constructor(
    readonly file: string,
    readonly tensor: string | null,
    detail: string,
  ) {
    super(`${file}: ${tensor === null ? '' : `tensor "${tensor}": `}${detail}`);
  }
}

export function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

const f16 = new Float32Array(1);
const f16u = new Uint32Array(f16.buffer);

/** IEEE half -> float32. */
export function halfToFloat(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return (sign ? -1 : 1) * mant * 2 ** -24;
  if (exp === 0x1f) f16u[0] = sign | 0x7f800000 | (mant << 13);
  else f16u[0] = sign | ((exp + 112) << 23) | (mant << 13);
  return f16[0]!;
}

/**
 * Reads element `i` (in elements) of a little-endian array of `dtype` as a number; used by the
 * readers to gather (possibly strided) views into float32.
 */
export function elementReader(dtype: string, bytes: Uint8Array): ((i: number) => number) | null {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'float32':
      return (i) => v.getFloat32(i * 4, true);
    case 'float64':
      return (i) => v.getFloat64(i * 8, true);
    case 'float16':
      return (i) => halfToFloat(v.getUint16(i * 2, true));
    case 'bfloat16':
      return (i) => {
        f16u[0] = v.getUint16(i * 2, true) << 16;
        return f16[0]!;
      };
    case 'int64':
      return (i) => Number(v.getBigInt64(i * 8, true));
    case 'int32':
      return (i) => v.getInt32(i * 4, true);
    case 'int16':
      return (i) => v.getInt16(i * 2, true);
    case 'int8':
      return (i) => v.getInt8(i);
    case 'uint8':
    case 'bool':
      return (i) => v.getUint8(i);
    default:
      return null;
  }
}

/**
 * Gathers a strided view (offset, shape, stride in elements) of `count` source elements into a
 * contiguous float32 array; the caller has checked the bounds.
 */
export function gather(
  get: (i: number) => number,
  offset: number,
  shape: number[],
  stride: number[],
): Float32Array {
  const n = numel(shape);
  const out = new Float32Array(n);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let off = offset;
  for (let o = 0; o < n; o++) {
    out[o] = get(off);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      off -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Largest element index a strided view touches (offset when it is empty). */
export function lastIndex(offset: number, shape: number[], stride: number[]): number {
  if (shape.some((s) => s === 0)) return offset - 1;
  return shape.reduce((acc, s, d) => acc + (s - 1) * stride[d]!, offset);
}
