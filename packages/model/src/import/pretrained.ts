/**
 * `model.pretrained: <dir>`: loads an import folder (model:import's output) into a model.
 *
 * Initialisation policy for what the folder does not fill (`model.pretrainedInit`):
 * - `authors` (default): as the authors' resnext.py, `load_state_dict(strict=False)` with size
 *   mismatches skipped. A tensor of the right name and shape loads; one of another shape keeps its
 *   random initialisation. So the DASE `fc2` weights of the domain-aware stages (one extra input row
 *   for the domain scalar) stay random while their biases, fc1 and plain-SE fc2 load.
 * - `copy-zero-domain`: a DASE fc2 weight gets the pretrained [hidden, C] rows and a zero domain row,
 *   so the network starts as the pretrained SE network (the domain has no effect until trained).
 * Every model tensor that is not loaded is returned with the reason (the embedding and code heads,
 * skipped fc2s, anything the source lacked), for the cell's config.json.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { ParamStore } from '../params';
import { NamedArray, readTensorFile } from '../tensorfile';
import { IMPORT_MANIFEST, ImportManifest } from './importer';

export const PRETRAINED_INITS = ['authors', 'copy-zero-domain'] as const;
export type PretrainedInit = (typeof PRETRAINED_INITS)[number];

export interface PretrainedReport {
  dir: string;
  /** Source file name, sha256 and arch from the import manifest. */
  source: { file: string; sha256: string; arch: string; block: string };
  init: PretrainedInit;
  loaded: number;
  /** Tensors initialised with a pretrained fc2 and a zero domain row (copy-zero-domain). */
  domainRowZeroed: string[];
  notLoaded: { name: string; reason: string }[];
  /** Tensors of the folder the model has no use for. */
  unused: string[];
}

/** The folder's files must be plain files inside it (no symlink leads elsewhere). */
function plainFile(dir: string, name: string): string {
  if (name !== path.basename(name) || name === '..' || name === '.')
    throw new Error(`model.pretrained: ${dir}: file name "${name}" leaves the folder`);
  const p = path.join(dir, name);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    throw new Error(`model.pretrained: ${dir} has no ${name} (not an import folder?)`);
  }
  if (!st.isFile()) throw new Error(`model.pretrained: ${p} is not a plain file (symlinks are not followed)`);
  return p;
}

export function missingPretrainedMessage(dir: string, arch: string): string {
  return `model.pretrained: ${dir} does not exist; import the weights first: npx nx run model:import -- --from <checkpoint file> --arch ${arch} --out ${dir}`;
}

/** Reads and checks an import folder (manifest + tensor file). */
export function readPretrainedDir(
  dir: string,
  arch: string,
): { manifest: ImportManifest; tensors: Map<string, NamedArray> } {
  if (!fs.existsSync(dir)) throw new Error(missingPretrainedMessage(dir, arch));
  const st = fs.lstatSync(dir);
  if (st.isSymbolicLink() || !st.isDirectory())
    throw new Error(`model.pretrained: ${dir} is not a folder (symlinks are not followed)`);
  const manifestPath = plainFile(dir, IMPORT_MANIFEST);
  let manifest: ImportManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as ImportManifest;
  } catch (err) {
    throw new Error(`model.pretrained: ${manifestPath}: ${(err as Error).message}`);
  }
  if (manifest.format !== 'sbir-import' || manifest.version !== 1)
    throw new Error(`model.pretrained: ${manifestPath}: not an sbir-import v1 manifest`);
  if (manifest.arch !== arch)
    throw new Error(
      `model.pretrained: ${dir} holds ${manifest.arch} weights, the model is ${arch} (import again with --arch ${arch})`,
    );
  const tensorsJson = plainFile(dir, 'tensors.json');
  const dataFile = (JSON.parse(fs.readFileSync(tensorsJson, 'utf8')) as { dataFile?: unknown }).dataFile;
  plainFile(dir, String(dataFile));
  return { manifest, tensors: readTensorFile(tensorsJson).tensors };
}

/** [h, C] pretrained rows + a zero row for the domain input -> [h + 1, C]. */
function withZeroDomainRow(t: NamedArray, target: number[]): Float32Array | null {
  const [h, c] = t.shape;
  if (t.shape.length !== 2 || target.length !== 2 || target[0] !== h! + 1 || target[1] !== c) return null;
  const out = new Float32Array((h! + 1) * c!);
  out.set(t.data as Float32Array);
  return out;
}

/** Loads `dir` into the tensors of `store` by the policy above. */
export function loadPretrained(
  store: ParamStore,
  dir: string,
  arch: string,
  init: PretrainedInit = 'authors',
): PretrainedReport {
  if (!PRETRAINED_INITS.includes(init))
    throw new Error(
      `model.pretrainedInit: unknown "${String(init)}" (known: ${PRETRAINED_INITS.join(', ')})`,
    );
  const { manifest, tensors } = readPretrainedDir(dir, arch);
  const report: PretrainedReport = {
    dir,
    source: {
      file: manifest.source.file,
      sha256: manifest.source.sha256,
      arch: manifest.arch,
      block: manifest.block,
    },
    init,
    loaded: 0,
    domainRowZeroed: [],
    notLoaded: [],
    unused: [],
  };
  const all = new Map([...store.params, ...store.buffers]);
  for (const [name, v] of all) {
    const t = tensors.get(name);
    if (!t) {
      report.notLoaded.push({
        name,
        reason: name.startsWith('backbone.') ? 'not in the source' : 'head: not in the source',
      });
      continue;
    }
    let data: Float32Array | Int32Array | null = v.shape.join(',') === t.shape.join(',') ? t.data : null;
    const isFc2 = /\.se_module\.fc2\.weight$/.test(name);
    if (!data && isFc2 && init === 'copy-zero-domain') {
      data = withZeroDomainRow(t, v.shape);
      if (data) report.domainRowZeroed.push(name);
    }
    if (!data) {
      const why = `size mismatch: source [${t.shape.join(', ')}], model [${v.shape.join(', ')}]`;
      report.notLoaded.push({
        name,
        reason: isFc2
          ? `DASE fc2 with a domain input row; ${why}; random init (authors)`
          : `${why}; random init`,
      });
      continue;
    }
    const value = tf.tensor(data, v.shape, 'float32');
    v.assign(value);
    value.dispose();
    report.loaded++;
  }
  report.unused = [...tensors.keys()].filter((n) => !all.has(n));
  return report;
}
