/**
 * The text of the zero-shot tables, claims, coverage and neighbours as plain strings, shared by every
 * format (each format escapes them), so Markdown, LaTeX, CSV and the dashboard carry the same numbers.
 */
import { ALPHA } from '../sensitivity/stats';
import type { ClassVectors } from '../store/schema';
import { fmt } from '../table/format';
import { displayAxis, displayValue } from '../table/normalize';
import {
  and,
  metricLabel,
  type ZsNeighbourClass,
  type ZsNeighbours,
  type ZsRow,
  type ZsStat,
  type ZsTable,
} from './compute';

/** The columns of a table: its row axes, then per protocol metric its mean ± std (n) and 95 % CI. */
export function tableColumns(t: ZsTable, rowAxes: string[]): string[] {
  const metrics = t.protocol.metrics.map((m) => metricLabel(t.protocol.name, m));
  return [
    ...(rowAxes.length ? rowAxes.map(displayAxis) : ['Row']),
    ...metrics.flatMap((m) => [`${m} (n)`, `${m} 95 % CI`]),
  ];
}

/** "0.412 ± 0.010 (3)"; "0.412 (1)" for one seed; "n/a" for none. */
export function statText(s: ZsStat): string {
  if (!s.n || s.mean === null) return 'n/a';
  return `${fmt(s.mean)}${s.std === null ? '' : ` ± ${fmt(s.std)}`} (${s.n})`;
}

export const ciText = (ci: [number, number] | null): string =>
  ci ? `[${fmt(ci[0])}, ${fmt(ci[1])}]` : 'n/a';

export function rowCells(r: ZsRow, rowAxes: string[]): string[] {
  return [
    ...(rowAxes.length ? rowAxes.map((a) => displayValue(a, r.axes[a]!)) : [r.label]),
    ...r.stats.flatMap((s) => [statText(s), ciText(s.ci)]),
  ];
}

/** The note under every table: what a row is, what a cell holds, and that protocols are never pooled. */
export const TABLE_NOTE =
  "Rows are the settings of the grid's axes other than seed and dataset; a cell is mean ± std (n) over " +
  'the seeds finished (std with n − 1), and its 95 % CI = mean ± t(0.975, n − 1) · sd/√n. One table per ' +
  "dataset and protocol, each with the protocol's own metrics: cells of different protocols are never pooled.";

export function claimsNote(): string {
  return (
    "Claims: Δ = treatment − baseline in the protocol's first metric, paired by seed and by every other " +
    'grid axis (only seeds finished on both sides); 95 % CI = mean Δ ± t(0.975, n − 1) · sd/√n; p = two-sided ' +
    "paired t-test, Holm-adjusted over the claim's comparisons when it has more than one. Holds / flips: " +
    `p < ${ALPHA} with Δ > 0 / Δ < 0; otherwise (or n < 2) the data cannot tell.`
  );
}

export const classesText = (xs: string[]): string => (xs.length ? xs.join(', ') : 'none');

/** "emoji: glove vectors from <source>, 50-d, sha256:…; 14 of 15 classes covered" */
export function coverageLine(v: ClassVectors): string {
  const covered = Math.max(0, v.classes - v.missingClasses.length);
  return `${v.format} vectors from ${v.source}, ${v.dim}-d, ${v.sha256}; ${covered} of ${v.classes} classes covered`;
}

export const missingTokensText = (v: ClassVectors): string =>
  v.missingTokens.length
    ? v.missingTokens.map((m) => `${m.category}: ${m.tokens.join(' ')}`).join('; ')
    : 'none';

/** A neighbour list: "dog† 0.812, cat 0.640"; † marks an unseen class. */
export function neighbourText(xs: { category: string; unseen: boolean; value: number }[]): string {
  return xs.length ? xs.map((n) => `${n.category}${n.unseen ? '†' : ''} ${fmt(n.value)}`).join(', ') : 'none';
}

export function neighbourCells(c: ZsNeighbourClass): string[] {
  return [
    c.category,
    neighbourText(c.word.map((n) => ({ ...n, value: n.similarity }))),
    neighbourText(c.learned.map((n) => ({ ...n, value: n.distance }))),
    `${c.shared} of ${c.of} shared`,
  ];
}

export const neighbourColumns = (distance = 'distance'): string[] => [
  'Unseen class',
  'Word-vector neighbours (cosine similarity)',
  `Learned-space neighbours (${distance} distance)`,
  'Overlap',
];

/** Where a neighbour picture comes from and how to read it. */
export function neighbourIntro(n: ZsNeighbours): string {
  if (!n.source)
    return `No cell of row ${n.row} (${n.why}) has a class-neighbours.json, so there is no picture for this table.`;
  return (
    `From cell ${n.source.cellId} (row ${n.row}, seed ${n.source.seed}: ${n.why}). Word: the ${n.k} nearest classes ` +
    `of each unseen class by the cosine of the class word vectors (every class, itself excluded); learned: its ` +
    `${n.k} nearest by the ${n.distance} distance between class means of photo features in the trained model's ` +
    'space. † marks an unseen class; the overlap counts the classes in both lists.'
  );
}

export const unseenText = (t: ZsTable): string =>
  `Unseen classes (${t.protocol.unseen.length}): ${and([...t.protocol.unseen].sort((a, b) => a.localeCompare(b))) || 'none listed'}.`;
