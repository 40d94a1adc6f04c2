/**
 * Keras HDF5 weights, read with h5wasm (the HDF5 library compiled to WebAssembly; no native code,
 * works offline). Two layouts:
 * - Keras 2 (`model.save('x.h5')` / `save_weights('x.h5')`): `[model_weights/]<layer>` groups with a
 *   `weight_names` attribute, datasets `<layer>/<layer>/<var>:0`.
 * - Keras 3 (`save_weights('x.weights.h5')`): `layers/<layer>[/layers/<sub>...]/vars/<i>`, variables
 *   by creation order only.
 * Keys are rewritten into PyTorch state-dict form so the mapping is shared: the layer path joined by
 * '.', Keras variable names renamed (kernel -> weight, gamma -> weight, beta -> bias, moving_mean ->
 * running_mean, moving_variance -> running_var). Keras 3 variables are named by position: a layer
 * of four vectors is a BatchNorm (gamma, beta, moving mean, moving variance), a layer whose first
 * variable has rank >= 2 is kernel [+ bias]; anything else keeps `vars.<i>` and stays unmatched.
 * Keras kernels are already in this project's layouts (conv HWIO, dense [in, out]): no transpose.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CheckpointError, SourceCheckpoint, SourceTensor } from './source';

/** HDF5 superblock signature, at offset 0 of every file written by h5py/Keras. */
const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

export function isHdf5(head: Uint8Array): boolean {
  return HDF5_MAGIC.every((b, i) => head[i] === b);
}

const VAR_NAMES: Record<string, string> = {
  kernel: 'weight',
  depthwise_kernel: 'weight',
  bias: 'bias',
  gamma: 'weight',
  beta: 'bias',
  moving_mean: 'running_mean',
  moving_variance: 'running_var',
};

/* Minimal structural types for the parts of h5wasm used here (its types need ESM resolution). */
interface H5Attr {
  value: unknown;
}
interface H5Dataset {
  type: 'Dataset';
  shape: number[] | null;
  dtype: unknown;
  value: unknown;
}
interface H5Group {
  type: 'Group';
  keys(): string[];
  get(name: string): H5Group | H5Dataset | null;
  attrs: Record<string, H5Attr>;
}
interface H5File extends H5Group {
  close(): void;
}
interface H5Module {
  ready: Promise<unknown>;
  File: new (file: string, mode: string) => H5File;
}

/**
 * h5wasm ships only an ES module for Node (`h5wasm/node`, import condition only); Node >= 20.19
 * loads it with require(), which keeps this package CommonJS.
 */
function loadH5wasm(): H5Module {
  const dirs = require.resolve.paths('h5wasm') ?? [];
  for (const d of dirs) {
    const entry = path.join(d, 'h5wasm', 'dist', 'node', 'hdf5_hl.js');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (fs.existsSync(entry)) return require(entry) as H5Module;
  }
  throw new Error('h5wasm is not installed (npm ci)');
}

function isGroup(x: unknown): x is H5Group {
  return typeof x === 'object' && x !== null && (x as H5Group).type === 'Group';
}
function isDataset(x: unknown): x is H5Dataset {
  return typeof x === 'object' && x !== null && (x as H5Dataset).type === 'Dataset';
}

function toFloat32(file: string, key: string, v: unknown): Float32Array {
  if (v instanceof Float32Array) return v;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    return Float32Array.from(v as unknown as ArrayLike<number | bigint>, (x) => Number(x));
  }
  if (typeof v === 'number' || typeof v === 'bigint') return Float32Array.of(Number(v));
  throw new CheckpointError(file, key, 'dataset is not numeric');
}

function tensorOf(file: string, key: string, d: H5Dataset): SourceTensor {
  const shape = d.shape ?? [];
  return {
    key,
    dtype: typeof d.dtype === 'string' ? d.dtype : JSON.stringify(d.dtype),
    shape,
    read() {
      let v: unknown;
      try {
        v = d.value;
      } catch (err) {
        throw new CheckpointError(file, key, `cannot read dataset (${(err as Error).message})`);
      }
      return toFloat32(file, key, v);
    },
  };
}

function torchKey(layerPath: string[], kerasVar: string): string {
  const v = kerasVar.replace(/:\d+$/, '');
  return [...layerPath, VAR_NAMES[v] ?? v].join('.');
}

function attrStrings(g: H5Group, name: string): string[] | null {
  const a = g.attrs[name];
  if (!a) return null;
  const v = a.value;
  const list = Array.isArray(v) ? v : typeof v === 'string' ? [v] : null;
  return list ? list.map(String) : null;
}

/** Keras 2: every dataset under a layer group; key from its path below the layer. */
function readKeras2(file: string, root: H5Group, out: SourceTensor[]): void {
  for (const layer of root.keys()) {
    const g = root.get(layer);
    if (!isGroup(g)) continue;
    const walk = (grp: H5Group, rel: string[]): void => {
      for (const k of grp.keys()) {
        const c = grp.get(k);
        if (isGroup(c)) walk(c, [...rel, k]);
        else if (isDataset(c)) {
          // weight name "<layer>/<var>:0" (or nested "<model>/<layer>/<var>:0"): the layer path is
          // what precedes the variable
          const layerPath = rel.length > 0 ? rel : [layer];
          out.push(tensorOf(file, torchKey(layerPath, k), c));
        }
      }
    };
    walk(g, []);
  }
}

/** Keras 3: `layers/<name>/vars/<i>` recursively. */
function readKeras3(
  file: string,
  layers: H5Group,
  prefix: string[],
  out: SourceTensor[],
  notes: string[],
): void {
  for (const name of layers.keys()) {
    const g = layers.get(name);
    if (!isGroup(g)) continue;
    const vars = g.get('vars');
    if (isGroup(vars)) {
      const ds = vars
        .keys()
        .sort((a, b) => Number(a) - Number(b))
        .map((k) => vars.get(k))
        .filter(isDataset);
      const ranks = ds.map((d) => (d.shape ?? []).length);
      let names: string[];
      if (ds.length === 4 && ranks.every((r) => r === 1))
        names = ['weight', 'bias', 'running_mean', 'running_var'];
      else if ((ds.length === 1 || ds.length === 2) && ranks[0]! >= 2) names = ['weight', 'bias'];
      else {
        names = ds.map((_, i) => `vars.${i}`);
        if (ds.length > 0)
          notes.push(`layer ${[...prefix, name].join('.')}: ${ds.length} variables of unknown roles`);
      }
      ds.forEach((d, i) => out.push(tensorOf(file, [...prefix, name, names[i]!].join('.'), d)));
    }
    const sub = g.get('layers');
    if (isGroup(sub)) readKeras3(file, sub, [...prefix, name], out, notes);
  }
}

export async function readKerasH5(file: string): Promise<SourceCheckpoint> {
  const h5 = loadH5wasm();
  await h5.ready;
  let f: H5File;
  try {
    f = new h5.File(file, 'r');
  } catch (err) {
    throw new CheckpointError(file, null, `not a readable HDF5 file (${(err as Error).message}); truncated?`);
  }
  const tensors: SourceTensor[] = [];
  const notes: string[] = [];
  try {
    const layers = f.get('layers');
    if (isGroup(layers)) {
      readKeras3(file, layers, [], tensors, notes);
      notes.push('Keras 3 layout (layers/<name>/vars/<i>); variables named by position');
    } else {
      const mw = f.get('model_weights');
      const root = isGroup(mw) ? mw : f;
      if (!attrStrings(root, 'layer_names')) notes.push('no layer_names attribute: read every dataset');
      readKeras2(file, root, tensors);
      notes.push('Keras 2 layout (<layer>/<layer>/<var>:0)');
    }
    // Values are read now: the file is closed before the mapping runs.
    const loaded = tensors.map((t) => {
      const data = t.read();
      return { ...t, read: () => data };
    });
    if (loaded.length === 0) throw new CheckpointError(file, null, 'no weight datasets found');
    return { format: 'keras-h5', layout: 'keras', tensors: loaded, notes };
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(
      file,
      null,
      `cannot read the HDF5 structure (${(err as Error).message}); truncated or corrupt?`,
    );
  } finally {
    f.close();
  }
}
