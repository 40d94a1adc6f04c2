/**
 * Checkpoints of a cell, dumped and restored in one place (Lightning's checkpoint connector):
 * `dumpCheckpoint` writes model + trainer state into a temp folder, digests every file and renames it
 * over `checkpoints/<name>`; `restoreCheckpoint` takes the newest one that verifies and truncates metrics.jsonl
 * to its step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDirSync, sha256FileSync, writeJsonAtomicSync } from '@sbir/core';
import { nowIso, readJsonFile, type CellStore } from './run-store';

/** What the trainer itself keeps in a checkpoint beside the model's own files (restart-safe counters). */
export interface TrainerState {
  /** Completed optimiser steps. */
  step: number;
  /** Completed epochs (an epoch = `stepsPerEpoch` steps; the last may be shorter). */
  epoch: number;
  /** Data position: pass over the train subset (0-based) and batches of it already consumed. */
  pass: number;
  batchInPass: number;
  /** Running sums of the epoch in progress (its trainLoss survives a resume). */
  epochLossSum: number;
  epochLossCount: number;
  trainSeconds: number;
  time: string;
}

export function initialTrainerState(): TrainerState {
  return {
    step: 0,
    epoch: 0,
    pass: 0,
    batchInPass: 0,
    epochLossSum: 0,
    epochLossCount: 0,
    trainSeconds: 0,
    time: nowIso(),
  };
}

/** The part of @sbir/model's Learner that checkpoints need. */
export interface Checkpointable {
  saveCheckpoint(dir: string): Promise<void>;
  loadCheckpoint(dir: string): Promise<void>;
}

/** In every checkpoint folder: sha256 and size of each other file, written last, checked on load. */
export const CHECKPOINT_DIGESTS = 'digests.json';

interface CheckpointDigests {
  format: 'sbir-checkpoint-digests';
  version: 1;
  files: Record<string, { bytes: number; sha256: string }>;
}

/** A checkpoint that does not match its digests (or has none): names the file and the problem. */
export class CorruptCheckpoint extends Error {
  override name = 'CorruptCheckpoint';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/**
 * Regular files under `dir` (posix paths relative to it, digests.json excluded). Anything else
 * (a symlink, a device) makes the checkpoint corrupt: a checkpoint is only files we wrote.
 */
function checkpointFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const name = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...checkpointFiles(dir, name));
    else if (e.isFile()) {
      if (name !== CHECKPOINT_DIGESTS) out.push(name);
    } else throw new CorruptCheckpoint(path.join(dir, name), 'not a regular file');
  }
  return out.sort();
}

/** Writes digests.json for every file of the checkpoint folder `dir` (read back from disk). */
export function writeCheckpointDigests(dir: string): void {
  const files: CheckpointDigests['files'] = {};
  for (const name of checkpointFiles(dir)) {
    const file = path.join(dir, name);
    files[name] = { bytes: fs.statSync(file).size, sha256: sha256FileSync(file) };
  }
  writeJsonAtomicSync(path.join(dir, CHECKPOINT_DIGESTS), {
    format: 'sbir-checkpoint-digests',
    version: 1,
    files,
  } satisfies CheckpointDigests);
}

/**
 * Checks every file of a checkpoint folder against its digests.json; throws CorruptCheckpoint naming
 * the first file that is missing, extra, of another size or another sha256.
 */
export function verifyCheckpoint(dir: string): void {
  const digestsFile = path.join(dir, CHECKPOINT_DIGESTS);
  let digests: CheckpointDigests;
  try {
    digests = JSON.parse(fs.readFileSync(digestsFile, 'utf8')) as CheckpointDigests;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CorruptCheckpoint(
      digestsFile,
      missing ? 'missing (no digests to verify against)' : 'unreadable',
    );
  }
  if (digests?.format !== 'sbir-checkpoint-digests' || typeof digests.files !== 'object' || !digests.files)
    throw new CorruptCheckpoint(digestsFile, 'not a checkpoint digest file');
  const present = checkpointFiles(dir);
  for (const name of Object.keys(digests.files).sort()) {
    if (!present.includes(name)) throw new CorruptCheckpoint(path.join(dir, name), 'missing');
  }
  for (const name of present) {
    const file = path.join(dir, name);
    const want = digests.files[name];
    if (!want) throw new CorruptCheckpoint(file, 'not listed in digests.json');
    const bytes = fs.statSync(file).size;
    if (bytes !== want.bytes)
      throw new CorruptCheckpoint(file, `${bytes} bytes, digests.json says ${want.bytes}`);
    if (sha256FileSync(file) !== want.sha256) throw new CorruptCheckpoint(file, 'sha256 mismatch');
  }
}

/**
 * Saves model + optimiser (through the model's own saveCheckpoint) and the trainer state into
 * checkpoints/<which> with digests.json, then swaps folders so that a complete checkpoint is always on
 * disk. For `last`, the one it replaces becomes `previous` (the fallback when `last` is found corrupt).
 */
export async function dumpCheckpoint(
  model: Checkpointable,
  cell: CellStore,
  which: 'last',
  state: TrainerState,
): Promise<void> {
  const target = cell.checkpointDir(which);
  const root = path.dirname(target);
  const tmp = path.join(root, `.${which}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  await model.saveCheckpoint(path.join(tmp, 'model'));
  writeJsonAtomicSync(path.join(tmp, 'trainer-state.json'), state);
  writeCheckpointDigests(tmp);
  fsyncDirSync(tmp);
  // last -> previous -> dropped (rename cannot replace a non-empty folder)
  const drop = path.join(root, `.${which}.old-${process.pid}`);
  fs.rmSync(drop, { recursive: true, force: true });
  const previous = cell.checkpointDir('previous');
  if (fs.existsSync(target)) {
    if (fs.existsSync(previous)) fs.renameSync(previous, drop);
    fs.renameSync(target, previous);
  }
  fs.renameSync(tmp, target);
  fsyncDirSync(root);
  fs.rmSync(drop, { recursive: true, force: true });
}

/** Folders a crash in the middle of `dumpCheckpoint` leaves behind (`.last.old-<pid>`, `.last.tmp-<pid>`, ...). */
function leftovers(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((n) => /^\.(last|best)\.(old|tmp)-\d+$/.test(n))
    .sort()
    .map((n) => path.join(root, n));
}

/** The step a checkpoint folder's trainer state records (-1 when unreadable: tried last). */
function stepOf(dir: string): number {
  const step = readJsonFile<TrainerState>(path.join(dir, 'trainer-state.json'))?.step;
  return typeof step === 'number' && Number.isFinite(step) ? step : -1;
}

/**
 * Checkpoint folders to resume from: the rotation of `last` newest step first wherever it sits (last,
 * previous, and the `.last.old-<pid>` a crash between the renames of `dumpCheckpoint` left: a crash
 * there can leave `previous` newer than that folder; at equal steps in that order). There is no
 * `best`: a checkpoint picked by mAP on the test queries would be a model selected on test data (the
 * authors report the last model, issue 21).
 */
export function checkpointCandidates(cell: CellStore): string[] {
  const root = path.join(cell.dir, 'checkpoints');
  if (!fs.existsSync(root)) return [];
  const left = leftovers(root).filter((d) => path.basename(d).startsWith('.last.old-'));
  const has = (d: string): boolean => fs.existsSync(path.join(d, 'trainer-state.json'));
  const rotation = [cell.checkpointDir('last'), ...left, cell.checkpointDir('previous')].filter(has);
  const steps = new Map(rotation.map((d) => [d, stepOf(d)]));
  const newestFirst = rotation
    .map((d, i) => ({ d, i }))
    .sort((a, b) => steps.get(b.d)! - steps.get(a.d)! || a.i - b.i)
    .map((x) => x.d);
  return newestFirst;
}

/**
 * After a restore from `from`: a leftover it came from becomes `last` (when there is none), and the
 * other leftovers of interrupted swaps are deleted, so that none outlives the resume.
 */
function cleanLeftovers(cell: CellStore, from: string): string {
  const root = path.join(cell.dir, 'checkpoints');
  let kept = from;
  const last = cell.checkpointDir('last');
  if (leftovers(root).includes(from) && !fs.existsSync(last)) {
    fs.renameSync(from, last);
    kept = last;
  }
  for (const d of leftovers(root)) if (d !== kept) fs.rmSync(d, { recursive: true, force: true });
  fsyncDirSync(root);
  return kept;
}

/** The checkpoint folder a resume would try first (null: none). */
export function findCheckpoint(cell: CellStore): string | null {
  return checkpointCandidates(cell)[0] ?? null;
}

export interface CheckpointFault {
  /** The corrupt file, relative to the cell folder. */
  file: string;
  problem: string;
}

export interface RestoredCheckpoint {
  /** Trainer state of the checkpoint restored; null = none usable (start from step 0). */
  state: TrainerState | null;
  /** The checkpoint folder restored, relative to the cell folder. */
  from: string | null;
  /** Corrupt checkpoints met on the way (each was deleted, so that it can never be trained on). */
  faults: CheckpointFault[];
  /** Unreadable metrics.jsonl lines dropped while truncating it to the checkpoint's step. */
  badMetricLines: number;
}

/**
 * Restores model + optimiser + trainer state from the newest checkpoint (by step) that matches its
 * digests (checkpointCandidates), truncates metrics.jsonl back to its step and removes the leftovers
 * of interrupted swaps. A corrupt one is
 * reported and deleted, never loaded; when none is usable the cell starts over from step 0.
 */
export async function restoreCheckpoint(model: Checkpointable, cell: CellStore): Promise<RestoredCheckpoint> {
  const faults: CheckpointFault[] = [];
  for (const dir of checkpointCandidates(cell)) {
    try {
      verifyCheckpoint(dir);
    } catch (e) {
      if (!(e instanceof CorruptCheckpoint)) throw e;
      faults.push({ file: path.relative(cell.dir, e.file), problem: e.problem });
      fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    const state = readJsonFile<TrainerState>(path.join(dir, 'trainer-state.json'))!;
    await model.loadCheckpoint(path.join(dir, 'model'));
    const { bad } = cell.truncateMetrics(state.step);
    const from = path.relative(cell.dir, dir);
    cleanLeftovers(cell, dir);
    return { state, from, faults, badMetricLines: bad };
  }
  const { bad } = cell.truncateMetrics(0);
  return { state: null, from: null, faults, badMetricLines: bad };
}
