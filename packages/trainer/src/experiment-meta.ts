/**
 * experiment.json with its cell-set history (README "Run store format"): `cells` is the current cell
 * set (the grid as last resolved, overrides included); every change of that set, or of the file's
 * digest or the overrides, appends one `history` entry. Cell folders on disk that are not in `cells`
 * are stale: results of an earlier grid, which readers leave out by default.
 */
import type { Experiment } from './grid';
import type { ClaimSettings } from './schema';
import type { SensitivityDesign } from './sensitivity';
import { writeJsonAtomicSync } from '@sbir/core';
import { nowIso, type ExperimentMeta, type RunStore } from './run-store';

export interface CellSetChange {
  /** When this cell set became current (the ablation that resolved it started). */
  time: string;
  configSha256: string;
  /** The yaml file and the command-line overrides that gave this set. */
  file: string;
  overrides: string[];
  cells: string[];
  /** Against the previous entry (all cells for the first one). */
  added: string[];
  removed: string[];
}

export interface ExperimentMetaV1 extends ExperimentMeta {
  /** Extension: the overrides of the current cell set. */
  overrides?: string[];
  /** Extension: every cell set this experiment had, oldest first; the last one is `cells`. */
  history?: CellSetChange[];
  /** Extension: the sensitivity design (sensitivity.ts), for experiments with a `sensitivity:` block. */
  sensitivity?: SensitivityDesign;
  /** Extension: the file's `claims:` (report: zero-shot verdicts). */
  claims?: ClaimSettings[];
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The history after resolving `exp` (pure): unchanged when the cell set, digest and overrides are. */
export function nextHistory(old: ExperimentMetaV1 | null, exp: Experiment, time: string): CellSetChange[] {
  const history: CellSetChange[] = [...(old?.history ?? [])];
  // A store written before the history existed: its cells are the first known set.
  if (old && history.length === 0 && old.cells.length > 0) {
    history.push({
      time: old.updatedAt ?? old.createdAt,
      configSha256: old.configSha256,
      file: old.file,
      overrides: old.overrides ?? [],
      cells: [...old.cells],
      added: [...old.cells],
      removed: [],
    });
  }
  const cells = exp.cells.map((c) => c.cellId);
  const last = history[history.length - 1];
  if (
    last &&
    sameList(last.cells, cells) &&
    last.configSha256 === exp.configSha256 &&
    sameList(last.overrides, exp.overrides)
  )
    return history;
  const before = new Set(last?.cells ?? []);
  const now = new Set(cells);
  history.push({
    time,
    configSha256: exp.configSha256,
    file: exp.file,
    overrides: [...exp.overrides],
    cells,
    added: cells.filter((c) => !before.has(c)),
    removed: [...before].filter((c) => !now.has(c)),
  });
  return history;
}

/** Writes runs/<experiment>/experiment.json for the resolved `exp` (keeps createdAt and the history). */
export function writeExperimentMeta(runs: RunStore, exp: Experiment): ExperimentMetaV1 {
  let old: ExperimentMetaV1 | null = null;
  try {
    old = runs.readMeta() as ExperimentMetaV1 | null;
  } catch {
    // unreadable experiment.json: rewritten whole below (its history and createdAt are lost)
  }
  const now = nowIso();
  const meta: ExperimentMetaV1 = {
    formatVersion: 1,
    name: exp.name,
    file: exp.file,
    description: exp.description,
    configSha256: exp.configSha256,
    axes: exp.axes,
    cells: exp.cells.map((c) => c.cellId),
    overrides: [...exp.overrides],
    history: nextHistory(old, exp, now),
    ...(exp.sensitivity ? { sensitivity: exp.sensitivity } : {}),
    ...(exp.claims ? { claims: exp.claims } : {}),
    createdAt: old?.createdAt ?? now,
    updatedAt: now,
  };
  writeJsonAtomicSync(runs.metaPath, meta);
  return meta;
}

/** Cell folders of the store that are not in the cell set of `exp` (default: experiment.json's). */
export function staleCellIds(runs: RunStore, exp?: Experiment): string[] {
  const current = new Set(exp ? exp.cells.map((c) => c.cellId) : (runs.readMeta()?.cells ?? []));
  return runs.listCellIds().filter((id) => !current.has(id));
}
