/**
 * `model:import`: reads a published checkpoint, maps it onto a registered backbone and writes an
 * import folder: `tensors.json` + `tensors.bin` (tensorfile.ts, this project's layouts) and
 * `import.json` (the manifest: source file, its sha256, arch, the name mapping with the layout rule
 * of every tensor, what was left unmatched and why, which target tensors had no source). The folder
 * appears complete or not at all: everything is written into a temporary sibling, renamed at the end,
 * and the temporary folder is removed on failure.
 */
import { sha256File, UsageError } from '@sbir/core';
import * as fs from 'fs';
import * as path from 'path';
import { createBackbone, getBackboneSpec } from '../backbones';
import { ParamStore } from '../params';
import { Rng } from '../rng';
import { NamedArray, writeTensorFile } from '../tensorfile';
import { detectFormat } from './formats';
import { MappingResult, TargetTensor, mapCheckpoint } from './mapping';
import { CheckpointError, SourceCheckpoint } from './source';

export const IMPORT_MANIFEST = 'import.json';

/** A bad --out, --arch or option of the import: exit 2 (the project's usage/input code). */
export class ImportUsageError extends UsageError {}

export interface ImportOptions {
  from: string;
  arch: string;
  out: string;
  /** Attention block of the source network; default: the backbone's own (`defaultBlock`: se for
   *  the SE-ResNeXts), else 'se' when the source has `se_module` tensors, else none. */
  block?: string;
  /** Nested dict to read (`state_dict`, `model`, ...), for training checkpoints. */
  key?: string;
  /** Replace an existing --out folder. */
  force?: boolean;
  onProgress?: (p: { phase: 'hash' | 'read' | 'map' | 'write'; done: number; total: number }) => void;
}

export interface ImportManifest {
  format: 'sbir-import';
  version: 1;
  source: { file: string; bytes: number; sha256: string; format: string; notes: string[] };
  arch: string;
  block: string;
  mapping: {
    source: string;
    target: string;
    rule: string;
    sourceShape: number[];
    sourceDType: string;
    shape: number[];
  }[];
  unmatched: { source: string; shape: number[]; reason: string }[];
  missing: { target: string; shape: number[] }[];
  strippedPrefixes: Record<string, number>;
}

export interface ImportResult {
  out: string;
  manifest: ImportManifest;
}

/** Initial values do not matter when only names and shapes are wanted: zeros, without drawing them. */
class ZeroRng extends Rng {
  override normalArray(n: number): Float32Array {
    return new Float32Array(n);
  }
  override uniformArray(n: number): Float32Array {
    return new Float32Array(n);
  }
}

/** Names and shapes of every backbone tensor of `arch` built with `block` (parameters and buffers). */
export function backboneTargets(arch: string, block: string): TargetTensor[] {
  getBackboneSpec(arch);
  const store = new ParamStore();
  try {
    createBackbone({ name: arch, block, store, rng: new ZeroRng(0) });
    return [...store.params, ...store.buffers].map(([name, v]) => ({ name, shape: v.shape }));
  } finally {
    store.dispose();
  }
}

/** --out must be a new (or, with force, replaceable) real folder: no symlink is followed. */
function checkOut(out: string, force: boolean): void {
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(out);
  } catch {
    st = null;
  }
  if (st?.isSymbolicLink())
    throw new ImportUsageError(`--out ${out}: is a symbolic link; give a real folder`);
  if (st && !st.isDirectory()) throw new ImportUsageError(`--out ${out}: exists and is not a folder`);
  if (st && !force && fs.readdirSync(out).length > 0)
    throw new ImportUsageError(`--out ${out}: exists and is not empty (pass --force to replace it)`);
  const parent = path.dirname(path.resolve(out));
  const pst = fs.existsSync(parent) ? fs.lstatSync(parent) : null;
  if (pst && !pst.isDirectory()) throw new ImportUsageError(`--out ${out}: parent ${parent} is not a folder`);
}

function buildManifest(
  file: string,
  bytes: number,
  digest: string,
  ck: SourceCheckpoint,
  arch: string,
  block: string,
  m: MappingResult,
): ImportManifest {
  return {
    format: 'sbir-import',
    version: 1,
    source: { file: path.basename(file), bytes, sha256: digest, format: ck.format, notes: ck.notes },
    arch,
    block,
    mapping: m.mapped.map(({ data: _data, ...rest }) => rest),
    unmatched: m.unmatched,
    missing: m.missing.map((t) => ({ target: t.name, shape: t.shape })),
    strippedPrefixes: m.strippedPrefixes,
  };
}

/** Writes the folder atomically (temp sibling, then rename). */
function writeImportDir(
  out: string,
  tensors: Map<string, NamedArray>,
  manifest: ImportManifest,
  force: boolean,
): void {
  const abs = path.resolve(out);
  const parent = path.dirname(abs);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(abs)}.import-`));
  try {
    fs.chmodSync(tmp, 0o755); // mkdtemp's 0700 would make the weights private to this user
    writeTensorFile(path.join(tmp, 'tensors.json'), tensors, {
      source: manifest.source.file,
      sha256: manifest.source.sha256,
      arch: manifest.arch,
      block: manifest.block,
    });
    fs.writeFileSync(path.join(tmp, IMPORT_MANIFEST), JSON.stringify(manifest, null, 1) + '\n');
    let old: string | null = null;
    if (fs.existsSync(abs)) {
      if (!force) throw new ImportUsageError(`--out ${out}: appeared while importing`);
      old = `${tmp}.old`;
      fs.renameSync(abs, old);
    }
    fs.renameSync(tmp, abs);
    if (old) fs.rmSync(old, { recursive: true, force: true });
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

export async function importCheckpoint(opts: ImportOptions): Promise<ImportResult> {
  const { from, arch, out } = opts;
  const progress = opts.onProgress ?? (() => undefined);
  if (!fs.existsSync(from)) throw new ImportUsageError(`--from ${from}: no such file`);
  if (!fs.statSync(from).isFile()) throw new ImportUsageError(`--from ${from}: not a file`);
  try {
    getBackboneSpec(arch);
  } catch (err) {
    throw new ImportUsageError(`--arch: ${(err as Error).message}`);
  }
  checkOut(out, opts.force ?? false);
  const bytes = fs.statSync(from).size;
  const digest = await sha256File(from, (done, total) => progress({ phase: 'hash', done, total }));
  const format = detectFormat(from);
  progress({ phase: 'read', done: 0, total: 1 });
  const ck = await format.read(from, { key: opts.key });
  progress({ phase: 'read', done: 1, total: 1 });
  const block: string = opts.block ?? (ck.tensors.some((t) => t.key.includes('se_module.')) ? 'se' : 'none');
  const targets = backboneTargets(arch, block);
  const m = mapCheckpoint(from, ck, targets, arch, (done, total) => progress({ phase: 'map', done, total }));
  const manifest = buildManifest(from, bytes, digest, ck, arch, block, m);
  const tensors = new Map<string, NamedArray>(
    m.mapped.map((t) => [t.target, { dtype: 'float32', shape: t.shape, data: t.data }]),
  );
  progress({ phase: 'write', done: 0, total: 1 });
  writeImportDir(out, tensors, manifest, opts.force ?? false);
  progress({ phase: 'write', done: 1, total: 1 });
  return { out: path.resolve(out), manifest };
}

export { CheckpointError };
