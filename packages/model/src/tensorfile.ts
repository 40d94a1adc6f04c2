/**
 * Named-tensor file format, used for checkpoints and for user-supplied backbone weights.
 *
 * Two files side by side:
 * - `<name>.json`, the manifest:
 *   { "format": "sbir-tensors", "version": 1, "dataFile": "<name>.bin", "byteLength": 1234,
 *     "tensors": [{ "name": "backbone.stem.conv.weight", "dtype": "float32", "shape": [3,3,3,32],
 *                   "offset": 0 }, ...],
 *     "meta": { ... free-form JSON ... } }
 * - `<name>.bin`: the tensors' values, little-endian, concatenated at the given byte offsets
 *   (each a multiple of 4), row-major in the given shape.
 * Conv filters are [kh, kw, in, out] (TensorFlow layout), linear weights [in, out].
 */
import * as fs from 'fs';
import * as path from 'path';

export type TensorDType = 'float32' | 'int32';

export interface NamedArray {
  dtype: TensorDType;
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface TensorManifest {
  format: 'sbir-tensors';
  version: 1;
  dataFile: string;
  byteLength: number;
  tensors: { name: string; dtype: TensorDType; shape: number[]; offset: number }[];
  meta?: Record<string, unknown>;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Writes `<manifestPath>` and its data file (basename with .bin) and fsyncs both. */
export function writeTensorFile(
  manifestPath: string,
  tensors: Map<string, NamedArray>,
  meta?: Record<string, unknown>,
): void {
  const dataFile = path.basename(manifestPath).replace(/\.json$/, '') + '.bin';
  const entries: TensorManifest['tensors'] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (t.data.length !== numel(t.shape)) {
      throw new Error(`tensor "${name}": ${t.data.length} values do not fill shape [${t.shape.join(', ')}]`);
    }
    entries.push({ name, dtype: t.dtype, shape: t.shape, offset });
    offset += t.data.byteLength;
  }
  const buf = Buffer.alloc(offset);
  for (const [i, [, t]] of [...tensors].entries()) {
    const src = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    src.copy(buf, entries[i].offset);
  }
  const manifest: TensorManifest = {
    format: 'sbir-tensors',
    version: 1,
    dataFile,
    byteLength: offset,
    tensors: entries,
    meta,
  };
  writeSynced(path.join(path.dirname(manifestPath), dataFile), buf);
  writeSynced(manifestPath, Buffer.from(JSON.stringify(manifest, null, 1) + '\n'));
}

function writeSynced(file: string, data: Buffer): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a manifest and its data file; errors name the file. */
export function readTensorFile(manifestPath: string): {
  tensors: Map<string, NamedArray>;
  meta: Record<string, unknown>;
} {
  let manifest: TensorManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as TensorManifest;
  } catch (err) {
    throw new Error(`cannot read tensor manifest ${manifestPath}: ${(err as Error).message}`);
  }
  if (manifest.format !== 'sbir-tensors' || manifest.version !== 1) {
    throw new Error(
      `${manifestPath}: not an sbir-tensors v1 manifest (format=${String(manifest.format)}, version=${String(manifest.version)})`,
    );
  }
  const dataPath = path.join(path.dirname(manifestPath), manifest.dataFile);
  const raw = fs.readFileSync(dataPath);
  if (raw.byteLength !== manifest.byteLength) {
    throw new Error(`${dataPath}: ${raw.byteLength} bytes, manifest says ${manifest.byteLength}`);
  }
  const tensors = new Map<string, NamedArray>();
  for (const e of manifest.tensors) {
    const n = numel(e.shape);
    if (e.offset % 4 !== 0 || e.offset + n * 4 > raw.byteLength) {
      throw new Error(`${manifestPath}: tensor "${e.name}" lies outside the data file`);
    }
    const bytes = raw.subarray(e.offset, e.offset + n * 4);
    const copy = new ArrayBuffer(n * 4);
    new Uint8Array(copy).set(bytes);
    const data = e.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, meta: manifest.meta ?? {} };
}

/**
 * Atomically replaces directory `dir` with one containing `tensors.json` + `tensors.bin`: writes a
 * sibling temporary directory, then renames it into place (the previous directory is moved aside
 * first and deleted after, since rename() cannot replace a non-empty directory).
 */
export function saveTensorDir(
  dir: string,
  tensors: Map<string, NamedArray>,
  meta?: Record<string, unknown>,
): void {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const base = path.basename(path.resolve(dir));
  const tmp = path.join(parent, `.${base}.tmp-${process.pid}-${Date.now()}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  writeTensorFile(path.join(tmp, 'tensors.json'), tensors, meta);
  let old: string | null = null;
  if (fs.existsSync(dir)) {
    old = path.join(parent, `.${base}.old-${process.pid}-${Date.now()}`);
    fs.renameSync(dir, old);
  }
  fs.renameSync(tmp, dir);
  if (old) fs.rmSync(old, { recursive: true, force: true });
}

/** Reads a directory written by saveTensorDir. */
export function loadTensorDir(dir: string): {
  tensors: Map<string, NamedArray>;
  meta: Record<string, unknown>;
} {
  const manifest = path.join(dir, 'tensors.json');
  if (!fs.existsSync(manifest)) throw new Error(`no checkpoint at ${dir} (missing ${manifest})`);
  return readTensorFile(manifest);
}
