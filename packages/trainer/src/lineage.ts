/**
 * Lineage of a cell (README "lineage.json"): which code, data, backend and machine produced it. Written
 * by the worker when it starts (or resumes) a cell; a resume on other code or another machine keeps the
 * earlier lineage in `previous`, so a result is never attributed to only one of them.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { availableCores, writeJsonAtomicSync } from '@sbir/core';
import { readJsonFile } from './run-store';

export interface GitLineage {
  /** HEAD of the repository that ran the cell; null outside a git checkout. */
  commit: string | null;
  /** Tracked files differ from HEAD (untracked files do not count). null when unknown. */
  dirty: boolean | null;
}

export interface DatasetLineage {
  name: string;
  split: string;
  /** `sha256:<hex>` of the dataset's manifest.json bytes (the manifest lists every shard's digest). */
  digest: string | null;
  /** Image size in pixels, number of classes and rows (all subsets and domains), from the manifest. */
  size: number | null;
  classes: number | null;
  rows: number | null;
  /** The folder the cell read (not part of the cell id). */
  dir: string;
}

export interface Lineage {
  formatVersion: 1;
  time: string;
  /** The attempt (status.json `attempt`) this lineage is of. */
  attempt: number | null;
  git: GitLineage;
  dataset: DatasetLineage;
  backend: { name: string; tfVersion: string | null; tfjsVersion: string | null };
  host: { name: string; platform: string; arch: string; cpu: string; cores: number; node: string };
  /**
   * The GPU the process was given (`--gpus`, Slurm's gres: CUDA_VISIBLE_DEVICES, null when unset) and
   * whether TensorFlow trained on a GPU. Absent in lineages written before it existed.
   */
  gpu?: GpuLineage;
  /** Earlier lineages of this cell that differ from this one (a resume on other code or another host). */
  previous?: Omit<Lineage, 'previous'>[];
}

export interface GpuLineage {
  cudaVisibleDevices: string | null;
  used: boolean;
}

/** The GPU facts of this process for lineage.json: `used` when the GPU build found a device. */
export function gpuLineage(
  backend: { name: string; warning?: string },
  env: NodeJS.ProcessEnv = process.env,
): GpuLineage {
  return {
    cudaVisibleDevices: env.CUDA_VISIBLE_DEVICES ?? null,
    used: backend.name === 'tensorflow-gpu' && !backend.warning,
  };
}

/** Git state of `dir` (two git calls; never throws). */
export function gitLineage(dir: string): GitLineage {
  const git = (args: string[]): string | null => {
    try {
      return execFileSync('git', args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    } catch {
      return null;
    }
  };
  const commit = git(['rev-parse', 'HEAD'])?.trim() || null;
  if (!commit) return { commit: null, dirty: null };
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return { commit, dirty: status === null ? null : status.trim().length > 0 };
}

/** Lineage of the parent's checkout passed to workers (env), so every worker reports the same. */
export function gitFromEnv(env: NodeJS.ProcessEnv = process.env): GitLineage | null {
  if (env.SBIR_GIT_SHA === undefined) return null;
  const dirty = env.SBIR_GIT_DIRTY;
  return { commit: env.SBIR_GIT_SHA || null, dirty: dirty === '1' ? true : dirty === '0' ? false : null };
}

export function datasetLineage(dataset: { name: string; split: string; dir: string }): DatasetLineage {
  const out: DatasetLineage = { ...dataset, digest: null, size: null, classes: null, rows: null };
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path.join(dataset.dir, 'manifest.json'));
  } catch {
    return out;
  }
  out.digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  try {
    const m = JSON.parse(bytes.toString('utf8')) as {
      size?: unknown;
      classes?: unknown;
      counts?: Record<string, Record<string, unknown>>;
    };
    if (typeof m.size === 'number') out.size = m.size;
    if (Array.isArray(m.classes)) out.classes = m.classes.length;
    if (m.counts && typeof m.counts === 'object') {
      let rows = 0;
      for (const byDomain of Object.values(m.counts))
        for (const n of Object.values(byDomain ?? {})) if (typeof n === 'number') rows += n;
      out.rows = rows;
    }
  } catch {
    /* the digest still identifies the bytes; the reader reports a bad manifest on its own */
  }
  return out;
}

export function hostLineage(): Lineage['host'] {
  const cpus = os.cpus();
  return {
    name: os.hostname(),
    platform: os.platform(),
    arch: os.arch(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: availableCores(),
    node: process.version,
  };
}

/** What identifies a lineage (the time and attempt aside): a resume that changes it keeps the old one. */
function identity(l: Omit<Lineage, 'previous'>): string {
  return JSON.stringify([l.git, l.dataset.digest, l.backend, l.host.name]);
}

/** Writes `<cellDir>/lineage.json`, keeping a differing earlier lineage in `previous`. */
export function writeLineage(cellDir: string, lineage: Omit<Lineage, 'previous'>): Lineage {
  const file = path.join(cellDir, 'lineage.json');
  const old = readJsonFile<Lineage>(file);
  const previous = [...(old?.previous ?? [])];
  if (old) {
    const { previous: _drop, ...last } = old;
    void _drop;
    if (identity(last) !== identity(lineage)) previous.push(last);
  }
  const out: Lineage = previous.length ? { ...lineage, previous } : { ...lineage };
  writeJsonAtomicSync(file, out);
  return out;
}

export function readLineage(cellDir: string): Lineage | null {
  return readJsonFile<Lineage>(path.join(cellDir, 'lineage.json'));
}
