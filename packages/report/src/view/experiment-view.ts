/**
 * The view of one experiment that every output is rendered from: its store record, the normalized
 * observations, the ablation table, and the few derived values that cost I/O or compute (the PCA of a
 * cell's embeddings), each computed at most once however many pages show it.
 */
import { finiteRows, pcaPoints } from '../charts/data';
import type { PcaPoint } from '../charts/points';
import { pca } from '../pca';
import type { PaperReference } from '../store/reference';
import { displayPath, readEmbeddings, type CellRecord, type ExperimentRecord } from '../store/read';
import { buildTable, type AblationTable } from '../table/build';
import { metricsFor, normalize, type NormalizedExperiment, type Observation } from '../table/normalize';

/** A cell's embedding sample projected on its first two principal components. */
export interface EmbeddingProjection {
  points: PcaPoint[];
  /** fraction of variance on PC1 and PC2 */
  explained: [number, number];
}

export interface ExperimentView {
  exp: ExperimentRecord;
  norm: NormalizedExperiment;
  table: AblationTable;
  obs: Map<string, Observation>;
  /** the folder its paper outputs go to */
  outDir: string;
  /** PCA of the cell's embeddings.json (undefined without one, or with fewer than 3 finite rows); memoized */
  projection: (c: CellRecord) => EmbeddingProjection | undefined;
}

/** Reads and projects a cell's embeddings (no cache: `ExperimentView.projection` is the cached one). */
export function embeddingProjection(c: CellRecord): EmbeddingProjection | undefined {
  if (!c.hasEmbeddings) return undefined;
  const emb = readEmbeddings(c);
  if (!emb || finiteRows(emb).rows.length < 3) return undefined;
  const p = pca(finiteRows(emb).vectors, 2);
  return { points: pcaPoints(emb, p), explained: [p.explained[0] ?? 0, p.explained[1] ?? 0] };
}

function memoByCell<T>(f: (c: CellRecord) => T): (c: CellRecord) => T {
  const done = new Map<string, T>();
  return (c) => {
    if (!done.has(c.cellId)) done.set(c.cellId, f(c));
    return done.get(c.cellId) as T;
  };
}

export function referenceNote(ref: PaperReference | undefined, file: string): string | undefined {
  if (!ref) return `Paper numbers: ${displayPath(file)} not found, so none are shown.`;
  if (!ref.results.some((r) => typeof r.value === 'number'))
    return `Paper numbers: ${displayPath(file)} has no transcribed results yet (see its notes), so the paper columns are empty.`;
  return undefined;
}

/** The table note on cells outside the current cell set (left out, or shown in their own rows). */
export function staleNote(exp: ExperimentRecord): string | undefined {
  const n = exp.staleCount;
  if (!n) return undefined;
  const shown = exp.cells.some((c) => c.stale);
  return shown
    ? `${n} stale cell(s) (not in the current cell set of experiment.json: an earlier yaml or overrides) are shown in rows of their own, marked by the earlier cell set that held them ("set k" = entry k of experiment.json's history); they are never pooled with current cells.`
    : `${n} stale cell(s) left out: in ${displayPath(exp.dir)} but not in the current cell set of experiment.json (the yaml or the overrides changed since they ran); --include-stale shows them, marked.`;
}

export function makeView(
  exp: ExperimentRecord,
  outDir: string,
  opts: { baseline?: Record<string, string>; reference?: PaperReference; referenceFile: string },
): ExperimentView {
  const norm = normalize(exp, metricsFor(exp));
  const table = buildTable(norm, { baseline: opts.baseline, reference: opts.reference?.results });
  const note = referenceNote(opts.reference, opts.referenceFile);
  if (note) table.notes.push(note);
  const stale = staleNote(exp);
  if (stale) table.notes.push(stale);
  const obs = new Map(norm.observations.map((o) => [o.cellId, o]));
  return { exp, norm, table, obs, outDir, projection: memoByCell(embeddingProjection) };
}

/** Lowest-seed finished cell of a table row on a dataset. */
export function representative(
  view: ExperimentView,
  rowKey: string,
  dataset: string,
): CellRecord | undefined {
  const cands = view.exp.cells
    .filter((c) => {
      const o = view.obs.get(c.cellId);
      return o && o.rowKey === rowKey && o.dataset === dataset && c.status.state === 'finished';
    })
    .sort((a, b) => Number(view.obs.get(a.cellId)?.seed) - Number(view.obs.get(b.cellId)?.seed));
  return cands[0];
}

/** For a dataset: the lowest-seed finished runs of the baseline row and of the best other row. */
export function representativeCells(view: ExperimentView, dataset: string): CellRecord[] {
  const t = view.table;
  const col = t.columns.find((c) => c.dataset === dataset && !c.paperOnly);
  const out: CellRecord[] = [];
  const base = t.rows.find((r) => r.isBaseline);
  // the best row; when that is the baseline itself, the best of the others (so two runs can be compared)
  const ranked = col
    ? [...t.rows]
        .filter((r) => r.cells[col.key].mean !== null)
        .sort((a, b) => (b.cells[col.key].mean as number) - (a.cells[col.key].mean as number))
    : [];
  const best = ranked.find((r) => r !== base);
  for (const r of [base, best]) {
    if (!r) continue;
    const c = representative(view, r.key, dataset);
    if (c && !out.includes(c)) out.push(c);
  }
  return out;
}

/** The label of a cell in run-level charts and pages (its observation's label, else its id). */
export const cellLabel = (view: ExperimentView, c: CellRecord): string =>
  view.obs.get(c.cellId)?.label ?? c.cellId;
