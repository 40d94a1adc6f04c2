/**
 * PyTorch checkpoints (`torch.save` of a state dict), parsed without running code from the file.
 *
 * - Zip format (PyTorch >= 1.6 default): `<root>/data.pkl` (the pickle, storages as persistent ids
 *   ('storage', torch.FloatStorage, key, location, numel)), `<root>/data/<key>` (raw little-endian
 *   storages, stored uncompressed), `<root>/version`. Entries are read with adm-zip, which checks
 *   each entry's CRC-32, so a flipped byte names the storage (and so the tensor) it hit.
 * - Legacy pickle format (`_use_new_zipfile_serialization=False`, and everything published before
 *   2020, e.g. Cadene's SE-ResNeXt and torchvision's first ResNet files): magic number, protocol
 *   version and sys-info pickles, the object pickle, a pickled list of storage keys, then each
 *   storage as an int64 element count followed by its bytes.
 * - The older tar format (PyTorch < 0.1.10) is rejected with a message saying how to convert it.
 */
import AdmZip from 'adm-zip';
import {
  ITEM_SIZE,
  PickleError,
  PyDict,
  PyTuple,
  PyValue,
  StorageClass,
  StorageDType,
  StorageRef,
  TensorRef,
  unpickle,
} from './pickle';
import {
  CheckpointError,
  ReadOptions,
  SourceCheckpoint,
  SourceTensor,
  elementReader,
  gather,
  lastIndex,
  numel,
} from './source';

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** Keys under which training scripts nest a state dict, tried in this order. */
export const NESTED_KEYS = ['state_dict', 'model_state_dict', 'model', 'net', 'network', 'module'];

export function isZip(head: Uint8Array): boolean {
  return head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

export function isTar(head: Uint8Array): boolean {
  return head.length >= 262 && new TextDecoder('latin1').decode(head.subarray(257, 262)) === 'ustar';
}

export function isLegacyPickle(head: Uint8Array): boolean {
  // protocol-2 pickle whose first object is the LONG1 magic number torch.save writes
  return head[0] === 0x80 && head[1] === 0x02 && head[2] === 0x8a && head[3] === 0x0a;
}

interface StorageBytes {
  dtype: StorageDType;
  numel: number;
  /** Storage key in the file, for messages. */
  key: string;
  bytes(): Uint8Array;
}

/** Turns the parsed root object into named tensor views (picking a nested dict if needed). */
function pickStateDict(
  file: string,
  root: PyValue,
  opts: ReadOptions,
  notes: string[],
): Map<string, TensorRef> {
  if (!(root instanceof PyDict)) throw new CheckpointError(file, null, 'the pickled object is not a dict');
  const tensorsOf = (d: PyDict): Map<string, TensorRef> => {
    const out = new Map<string, TensorRef>();
    for (const [k, v] of d.map) if (v instanceof TensorRef) out.set(String(k), v);
    return out;
  };
  let chosen: PyDict = root;
  if (opts.key !== undefined) {
    const sub = root.map.get(opts.key);
    if (!(sub instanceof PyDict))
      throw new CheckpointError(
        file,
        null,
        `--key ${opts.key}: no such nested dict (keys: ${[...root.map.keys()].join(', ')})`,
      );
    chosen = sub;
    notes.push(`tensors taken from the nested dict "${opts.key}" (--key)`);
  } else if (tensorsOf(root).size === 0) {
    const candidates = [...root.map.entries()].filter(
      ([, v]) => v instanceof PyDict && tensorsOf(v).size > 0,
    );
    const known = NESTED_KEYS.find((k) => candidates.some(([c]) => c === k));
    if (known === undefined && candidates.length !== 1) {
      throw new CheckpointError(
        file,
        null,
        `no tensors at the top level; choose a nested dict with --key (dicts holding tensors: ${candidates.map(([k]) => k).join(', ') || 'none'})`,
      );
    }
    const key = known ?? String(candidates[0]![0]);
    chosen = root.map.get(key) as PyDict;
    notes.push(
      `no tensors at the top level: took the nested dict "${key}" (of ${candidates.map(([k]) => `"${k}"`).join(', ')}); choose another with --key`,
    );
  }
  const tensors = tensorsOf(chosen);
  const other = [...chosen.map.keys()].filter((k) => !tensors.has(String(k)));
  if (other.length > 0) notes.push(`ignored non-tensor entries: ${other.join(', ')}`);
  if (tensors.size === 0) throw new CheckpointError(file, null, 'the state dict holds no tensors');
  return tensors;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d]! !== 1 && stride[d]! !== expect) return false;
    expect *= shape[d]!;
  }
  return true;
}

function toSourceTensor(file: string, key: string, t: TensorRef, storage: StorageBytes): SourceTensor {
  const { shape, stride, offset } = t;
  const bad = (detail: string): CheckpointError => new CheckpointError(file, key, detail);
  if (shape.length !== stride.length || shape.some((s) => s < 0) || stride.some((s) => s < 0) || offset < 0)
    throw bad(`invalid view (size [${shape.join(', ')}], stride [${stride.join(', ')}], offset ${offset})`);
  const last = lastIndex(offset, shape, stride);
  if (last >= storage.numel)
    throw bad(
      `view reaches element ${last} of storage ${storage.key}, which holds ${storage.numel} ${storage.dtype} elements`,
    );
  return {
    key,
    dtype: storage.dtype,
    shape,
    read() {
      let bytes: Uint8Array;
      try {
        bytes = storage.bytes();
      } catch (err) {
        throw bad(`storage ${storage.key}: ${(err as Error).message}`);
      }
      if (bytes.byteLength < storage.numel * ITEM_SIZE[storage.dtype])
        throw bad(
          `storage ${storage.key} has ${bytes.byteLength} bytes, needs ${storage.numel * ITEM_SIZE[storage.dtype]} (truncated file?)`,
        );
      if (storage.dtype === 'float32' && isContiguous(shape, stride)) {
        // the common case: one copy of the bytes (little-endian, as checked on open)
        const n = numel(shape);
        const out = new Float32Array(n);
        new Uint8Array(out.buffer).set(bytes.subarray(offset * 4, (offset + n) * 4));
        return out;
      }
      const get = elementReader(storage.dtype, bytes);
      if (!get) throw bad(`unsupported dtype ${storage.dtype}`);
      return gather(get, offset, shape, stride);
    },
  };
}

function storagePid(
  file: string,
  pid: PyValue,
): { cls: StorageClass; key: string; numel: number; view: PyValue } {
  if (
    !(pid instanceof PyTuple) ||
    pid.items[0] !== 'storage' ||
    !(pid.items[1] instanceof StorageClass) ||
    typeof pid.items[2] !== 'string' ||
    typeof pid.items[4] !== 'number'
  ) {
    throw new CheckpointError(file, null, 'persistent id that is not a tensor storage');
  }
  return { cls: pid.items[1], key: pid.items[2], numel: pid.items[4], view: pid.items[5] ?? null };
}

function parsePickle(file: string, buf: Uint8Array, load: (pid: PyValue) => PyValue, start = 0) {
  try {
    return unpickle(buf, { persistentLoad: load }, start);
  } catch (err) {
    if (err instanceof PickleError) throw new CheckpointError(file, null, err.message);
    throw err;
  }
}

function checkpoint(
  format: string,
  file: string,
  root: PyValue,
  opts: ReadOptions,
  storages: Map<string, StorageBytes>,
  refs: Map<StorageRef, string>,
): SourceCheckpoint {
  const notes: string[] = [];
  const views = pickStateDict(file, root, opts, notes);
  const tensors = [...views].map(([key, t]) =>
    toSourceTensor(file, key, t, storages.get(refs.get(t.storage)!)!),
  );
  return { format, layout: 'torch', tensors, notes };
}

/** Reads a zip-format torch.save file held in `buf`. */
export function readTorchZip(file: string, buf: Buffer, opts: ReadOptions = {}): SourceCheckpoint {
  let zip: AdmZip;
  let entries: AdmZip.IZipEntry[];
  try {
    zip = new AdmZip(buf);
    entries = zip.getEntries();
  } catch (err) {
    throw new CheckpointError(
      file,
      null,
      `not a readable zip archive (${(err as Error).message}); truncated?`,
    );
  }
  const pkl = entries.find((e) => /^[^/]+\/data\.pkl$/.test(e.entryName));
  if (!pkl)
    throw new CheckpointError(file, null, 'zip archive without <root>/data.pkl: not a torch.save file');
  const root = pkl.entryName.slice(0, -'data.pkl'.length);
  const byEntry = new Map(entries.map((e) => [e.entryName, e]));
  const order = byEntry.get(`${root}byteorder`);
  if (order && order.getData().toString('latin1').trim() !== 'little')
    throw new CheckpointError(file, null, 'big-endian storages are not supported');
  const storages = new Map<string, StorageBytes>();
  const refs = new Map<StorageRef, string>();
  let pklData: Buffer;
  try {
    pklData = pkl.getData();
  } catch (err) {
    throw new CheckpointError(file, null, `${pkl.entryName}: ${(err as Error).message}`);
  }
  const { value } = parsePickle(file, pklData, (pid) => {
    const { cls, key, numel: n } = storagePid(file, pid);
    const entry = byEntry.get(`${root}data/${key}`);
    if (!entry) throw new CheckpointError(file, null, `storage ${key} is missing from the archive`);
    let cached: Uint8Array | null = null;
    storages.set(key, {
      dtype: cls.dtype,
      numel: n,
      key: `${root}data/${key}`,
      bytes: () => (cached ??= entry.getData()),
    });
    const ref = new StorageRef(cls.dtype, n, key);
    refs.set(ref, key);
    return ref;
  });
  return checkpoint('torch-zip', file, value, opts, storages, refs);
}

/** Reads a legacy (non-zip) torch.save file held in `buf`. */
export function readTorchLegacy(file: string, buf: Buffer, opts: ReadOptions = {}): SourceCheckpoint {
  const none = (): PyValue => {
    throw new CheckpointError(file, null, 'unexpected persistent id in the header');
  };
  const magic = parsePickle(file, buf, none);
  if (magic.value !== LEGACY_MAGIC)
    throw new CheckpointError(file, null, 'not a torch.save file (bad magic number)');
  const proto = parsePickle(file, buf, none, magic.end);
  if (proto.value !== 1001)
    throw new CheckpointError(file, null, `unsupported legacy protocol ${String(proto.value)}`);
  const sys = parsePickle(file, buf, none, proto.end);
  if (sys.value instanceof PyDict && sys.value.map.get('little_endian') === false)
    throw new CheckpointError(file, null, 'big-endian storages are not supported');
  const roots = new Map<string, { dtype: StorageDType; numel: number }>();
  const refs = new Map<StorageRef, string>();
  const viewOffsets = new Map<StorageRef, number>();
  const main = parsePickle(
    file,
    buf,
    (pid) => {
      const { cls, key, numel: n, view } = storagePid(file, pid);
      if (!roots.has(key)) roots.set(key, { dtype: cls.dtype, numel: n });
      const ref = new StorageRef(cls.dtype, n, key);
      refs.set(ref, key);
      // (view_key, offset, size): a storage view inside root storage `key`
      if (view instanceof PyTuple && typeof view.items[1] === 'number') viewOffsets.set(ref, view.items[1]);
      return ref;
    },
    sys.end,
  );
  const keysPickle = parsePickle(file, buf, none, main.end);
  if (!Array.isArray(keysPickle.value)) throw new CheckpointError(file, null, 'storage key list missing');
  // Storages follow in the order of the key list: int64 element count, then the raw bytes.
  const storages = new Map<string, StorageBytes>();
  let pos = keysPickle.end;
  for (const k of keysPickle.value) {
    const key = String(k);
    const meta = roots.get(key);
    if (!meta) throw new CheckpointError(file, null, `storage ${key} is listed but never used`);
    const size = pos + 8 <= buf.length ? Number(buf.readBigInt64LE(pos)) : -1;
    if (size !== -1 && size !== meta.numel)
      throw new CheckpointError(
        file,
        null,
        `storage ${key}: ${size} elements in the file, ${meta.numel} in the pickle`,
      );
    const start = pos + 8;
    const len = meta.numel * ITEM_SIZE[meta.dtype];
    const bytes = buf.subarray(Math.min(start, buf.length), Math.min(start + len, buf.length));
    storages.set(key, { dtype: meta.dtype, numel: meta.numel, key, bytes: () => bytes });
    pos = start + len;
  }
  // Views into a root storage: shift their tensors' offsets onto the root.
  const fixed = rebaseViews(main.value, viewOffsets);
  const missing = [...roots.keys()].find((k) => !storages.has(k));
  if (missing !== undefined)
    throw new CheckpointError(file, null, `storage ${missing} is missing (truncated file?)`);
  return checkpoint('torch-legacy', file, fixed, opts, storages, refs);
}

/** Returns `v` with every tensor on a storage view moved onto its root storage. */
function rebaseViews(v: PyValue, viewOffsets: Map<StorageRef, number>): PyValue {
  if (viewOffsets.size === 0) return v;
  if (v instanceof TensorRef) {
    const off = viewOffsets.get(v.storage);
    return off === undefined ? v : new TensorRef(v.storage, v.offset + off, v.shape, v.stride);
  }
  if (v instanceof PyDict) {
    const d = new PyDict(v.ordered);
    for (const [k, x] of v.map) d.map.set(k, rebaseViews(x, viewOffsets));
    return d;
  }
  return v;
}

/** Detects the torch format of `buf` and reads it. */
export function readTorch(file: string, buf: Buffer, opts: ReadOptions = {}): SourceCheckpoint {
  if (isZip(buf)) return readTorchZip(file, buf, opts);
  if (isLegacyPickle(buf)) return readTorchLegacy(file, buf, opts);
  if (isTar(buf))
    throw new CheckpointError(
      file,
      null,
      'PyTorch tar checkpoint (PyTorch < 0.1.10) is not supported: load it in PyTorch and torch.save it again',
    );
  throw new CheckpointError(file, null, 'not a PyTorch checkpoint (neither zip nor legacy pickle format)');
}

export const TORCH_EXTENSIONS = ['.pth', '.pt', '.bin', '.ckpt', '.tar'];
export { numel };
