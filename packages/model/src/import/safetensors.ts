/**
 * `.safetensors` (Hugging Face; timm publishes its weights so): an 8-byte little-endian header
 * length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`,
 * then the data buffer; offsets are relative to the buffer. Every entry is checked against the
 * format's rules (known dtype, byte length = elements x item size, inside the buffer, no overlaps).
 */
import { CheckpointError, SourceCheckpoint, SourceTensor, elementReader, numel } from './source';

const DTYPES: Record<string, { name: string; size: number }> = {
  F32: { name: 'float32', size: 4 },
  F16: { name: 'float16', size: 2 },
  BF16: { name: 'bfloat16', size: 2 },
  F64: { name: 'float64', size: 8 },
  I64: { name: 'int64', size: 8 },
  I32: { name: 'int32', size: 4 },
  I16: { name: 'int16', size: 2 },
  I8: { name: 'int8', size: 1 },
  U8: { name: 'uint8', size: 1 },
  BOOL: { name: 'bool', size: 1 },
};
/** The reference implementation's limit on the header (100 MB). */
const MAX_HEADER = 100_000_000;

export function isSafetensors(head: Uint8Array): boolean {
  // header length (u64 LE, small) followed by the JSON object's '{'
  if (head.length < 9 || head[8] !== 0x7b) return false;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return v.getUint32(4, true) === 0 && v.getUint32(0, true) <= MAX_HEADER;
}

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function checkEntry(file: string, key: string, e: unknown, dataLen: number): Entry {
  const bad = (detail: string): CheckpointError => new CheckpointError(file, key, detail);
  const o = e as Partial<Entry>;
  if (typeof o !== 'object' || o === null) throw bad('header entry is not an object');
  if (typeof o.dtype !== 'string' || !(o.dtype in DTYPES))
    throw bad(`unknown dtype ${JSON.stringify(o.dtype)}`);
  if (!Array.isArray(o.shape) || o.shape.some((s) => !Number.isInteger(s) || s < 0))
    throw bad(`invalid shape ${JSON.stringify(o.shape)}`);
  const off = o.data_offsets;
  if (
    !Array.isArray(off) ||
    off.length !== 2 ||
    off.some((x) => !Number.isInteger(x) || x < 0) ||
    off[0] > off[1]
  )
    throw bad(`invalid data_offsets ${JSON.stringify(off)}`);
  const want = numel(o.shape) * DTYPES[o.dtype]!.size;
  if (off[1] - off[0] !== want)
    throw bad(
      `data_offsets span ${off[1] - off[0]} bytes, shape [${o.shape.join(', ')}] ${o.dtype} needs ${want}`,
    );
  if (off[1] > dataLen)
    throw bad(`data ends at byte ${off[1]} of a ${dataLen}-byte buffer (truncated file?)`);
  return o as Entry;
}

export function readSafetensors(file: string, buf: Buffer): SourceCheckpoint {
  if (buf.length < 8) throw new CheckpointError(file, null, 'too short for a safetensors header');
  const n = Number(buf.readBigUInt64LE(0));
  if (n > MAX_HEADER || 8 + n > buf.length)
    throw new CheckpointError(
      file,
      null,
      `header length ${n} exceeds the file (${buf.length} bytes); truncated?`,
    );
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch (err) {
    throw new CheckpointError(file, null, `header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new CheckpointError(file, null, 'header is not a JSON object');
  const data = buf.subarray(8 + n);
  const entries = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([k, e]) => ({ key: k, e: checkEntry(file, k, e, data.length) }));
  // The format forbids overlapping entries and holes; check overlap (a corrupted offset shows so).
  const sorted = [...entries].sort((a, b) => a.e.data_offsets[0] - b.e.data_offsets[0]);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.e.data_offsets[0] < sorted[i - 1]!.e.data_offsets[1])
      throw new CheckpointError(file, sorted[i]!.key, `data overlaps tensor "${sorted[i - 1]!.key}"`);
  }
  const notes: string[] = [];
  const end = sorted.length > 0 ? sorted[sorted.length - 1]!.e.data_offsets[1] : 0;
  if (end !== data.length) notes.push(`${data.length - end} bytes after the last tensor ignored`);
  const tensors: SourceTensor[] = entries.map(({ key, e }) => {
    const dt = DTYPES[e.dtype]!;
    return {
      key,
      dtype: dt.name,
      shape: e.shape,
      read() {
        const bytes = data.subarray(e.data_offsets[0], e.data_offsets[1]);
        const get = elementReader(dt.name, bytes)!;
        const out = new Float32Array(numel(e.shape));
        for (let i = 0; i < out.length; i++) out[i] = get(i);
        return out;
      },
    };
  });
  return { format: 'safetensors', layout: 'torch', tensors, notes };
}
