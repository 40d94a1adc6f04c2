/**
 * The sensitivity section's view model: for each claimed ordering (treatment beats baseline on one
 * axis) and each factor varied one at a time, the paired Δ over seeds at every factor value and every
 * other setting of the grid, with its t interval, the two-sided paired t-test, Holm's correction over
 * the claim's distinct settings, a verdict, and the verdict sentence. Pure: store records in, numbers out.
 *
 * Slices follow the trainer's contract (experiment.json `sensitivity`): a cell belongs to value v of
 * factor F when its axis F is v or "n/a" (F does not apply to it) and every other factor is at its
 * baseline or "n/a".
 */
import { pairedTTest } from '../stats';
import type { CellRecord, ExperimentRecord } from '../store/read';
import type { AxisValue, Sensitivity } from '../store/schema';
import { fmtSigned } from '../table/format';
import { axisString, displayValue, HAMMING_METRIC } from '../table/normalize';
import { ALPHA, CI_LEVEL, holmAdjust, tInterval } from './stats';

/** A cell's axis value for a factor it does not apply to (outside the factor's `when`). */
export const NOT_APPLICABLE = 'n/a';

export type Verdict = 'holds' | 'flips' | 'cannot tell';

export interface SensitivityFactor {
  name: string;
  path: string;
  values: string[];
  baseline: string;
  /** the grid settings the factor applies to (empty: all) */
  when: Record<string, string>;
}

/** A paired comparison of two cell groups over seeds (sensitivity settings, zero-shot claims). */
export interface PairedDiff {
  /** seeds paired (finished with the metric on both sides), and treatment − baseline per seed */
  seeds: string[];
  diffs: number[];
  n: number;
  mean: number | null;
  sd: number | null;
  ci: [number, number] | null;
  p: number | null;
  /** Holm-adjusted p within the claim; null when untested (n < 2 or every difference zero) */
  pAdjusted: number | null;
}

export interface SensitivitySetting extends PairedDiff {
  factor: string;
  value: string;
  /** the claim's other grid axes (seed aside), axis → value as printed */
  other: Record<string, string>;
  /** "loss=MEMS"; '' when the claim leaves no other axis */
  otherLabel: string;
  /** "steps=800, loss=MEMS" */
  label: string;
  verdict: Verdict;
  /** the first setting with the very same cell pairs: this one is counted once and shown as that one's row */
  sameAs?: string;
  /** the later settings with the very same cell pairs (named in the note of this setting's row) */
  equivalents: string[];
  /**
   * the paired cells hold the factor at this value (not "n/a"): false for a setting the factor does not
   * apply to (softmax at a MEMS margin), whose cells are the baseline cells again; charts draw no point there
   */
  applies: boolean;
}

export interface SensitivityClaim {
  axis: string;
  baseline: string;
  treatment: string;
  /** "DASE > SE" */
  label: string;
  settings: SensitivitySetting[];
  /** settings with distinct cell pairs */
  distinct: number;
  /** m of Holm's correction: distinct settings with a test */
  tested: number;
  sentence: string;
}

export interface SensitivityView {
  metric: string;
  factors: SensitivityFactor[];
  claims: SensitivityClaim[];
  notes: string[];
}

interface Sample {
  cellId: string;
  seed: string;
  axes: Record<string, string>;
  value: number;
}

/** The value of `metric` in a finished cell's eval.json (Hamming mAP@all is nested), if finite. */
function metricOf(c: CellRecord, metric: string): number | undefined {
  if (c.status.state !== 'finished' || !c.eval) return undefined;
  const v = metric === HAMMING_METRIC ? c.eval.hamming?.['mAP@all'] : c.eval[metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function samples(exp: ExperimentRecord, metric: string): Sample[] {
  const out: Sample[] = [];
  for (const c of exp.cells) {
    const value = metricOf(c, metric);
    // stale cells belong to another grid: never paired with the current one
    if (c.stale || !c.config || value === undefined) continue;
    const axes = Object.fromEntries(Object.entries(c.config.axes).map(([k, v]) => [k, axisString(v)]));
    out.push({ cellId: c.cellId, seed: axes.seed ?? axisString(c.config.seed ?? 0), axes, value });
  }
  return out;
}

/** Every combination of the given axes' values, in the order given (one empty combination for none). */
function combinations(axes: string[], values: Record<string, string[]>): Record<string, string>[] {
  return axes.reduce<Record<string, string>[]>(
    (acc, a) => acc.flatMap((o) => (values[a] ?? []).map((v) => ({ ...o, [a]: v }))),
    [{}],
  );
}

/** Values of each grid axis: as experiment.json declares them, then any other a cell holds. */
function axisValues(exp: ExperimentRecord, cells: Sample[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (a: string, v: string) => {
    if (!(out[a] ??= []).includes(v)) out[a].push(v);
  };
  for (const [a, vs] of Object.entries(exp.meta.axes ?? {}))
    vs.forEach((v: AxisValue) => add(a, axisString(v)));
  for (const c of cells) for (const [a, v] of Object.entries(c.axes)) add(a, v);
  return out;
}

function toFactor(f: Sensitivity['factors'][number]): SensitivityFactor {
  return {
    name: f.name,
    path: f.path,
    values: f.values.map((v) => String(v)),
    baseline: String(f.baseline),
    when: Object.fromEntries(Object.entries(f.when).map(([k, v]) => [k, String(v)])),
  };
}

const otherText = (o: Record<string, string>): string =>
  Object.entries(o)
    .map(([a, v]) => `${a}=${displayValue(a, v)}`)
    .join(', ');

interface Slice {
  factor: SensitivityFactor;
  value: string;
  other: Record<string, string>;
}

/** The cells of one side of a slice, by seed; seeds with more than one such cell are ambiguous. */
function sideBySeed(
  cells: Sample[],
  s: Slice,
  factors: SensitivityFactor[],
  axis: string,
  side: string,
): Map<string, Sample | null> {
  const inSlice = (c: Sample) =>
    c.axes[axis] === side &&
    Object.entries(s.other).every(([a, v]) => c.axes[a] === v) &&
    factors.every((g) => {
      const want = g === s.factor ? s.value : g.baseline;
      return c.axes[g.name] === want || c.axes[g.name] === NOT_APPLICABLE;
    });
  const out = new Map<string, Sample | null>();
  for (const c of cells.filter(inSlice)) out.set(c.seed, out.has(c.seed) ? null : c);
  return out;
}

interface Measured {
  setting: SensitivitySetting;
  /** the cell pairs, as a key: settings with equal keys are one test */
  pairKey: string;
  ambiguousSeeds: number;
}

function measure(
  cells: Sample[],
  s: Slice,
  factors: SensitivityFactor[],
  claim: { axis: string; baseline: string; treatment: string },
): Measured {
  const treated = sideBySeed(cells, s, factors, claim.axis, claim.treatment);
  const base = sideBySeed(cells, s, factors, claim.axis, claim.baseline);
  const seeds = [...treated.keys()]
    .filter((seed) => treated.get(seed) && base.get(seed))
    .sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  const ambiguousSeeds = [...treated.keys(), ...base.keys()].filter(
    (seed) => treated.get(seed) === null || base.get(seed) === null,
  ).length;
  const a = seeds.map((seed) => (treated.get(seed) as Sample).value);
  const b = seeds.map((seed) => (base.get(seed) as Sample).value);
  const test = pairedTTest(a, b);
  const otherLabel = otherText(s.other);
  const setting: SensitivitySetting = {
    factor: s.factor.name,
    value: s.value,
    other: Object.fromEntries(Object.entries(s.other).map(([k, v]) => [k, displayValue(k, v)])),
    otherLabel,
    label: `${s.factor.name}=${s.value}${otherLabel ? `, ${otherLabel}` : ''}`,
    seeds,
    diffs: a.map((x, i) => x - b[i]),
    n: test.n,
    mean: test.meanDiff,
    sd: test.sdDiff,
    ci: tInterval(test.n, test.meanDiff, test.sdDiff),
    p: test.p,
    pAdjusted: null,
    verdict: 'cannot tell',
    equivalents: [],
    applies:
      seeds.length > 0 &&
      seeds.every((seed) => (treated.get(seed) as Sample).axes[s.factor.name] === s.value),
  };
  const pairKey = seeds
    .map((seed) => `${(treated.get(seed) as Sample).cellId}:${(base.get(seed) as Sample).cellId}`)
    .join(',');
  return { setting, pairKey, ambiguousSeeds };
}

export function verdictOf(pAdjusted: number | null, mean: number | null): Verdict {
  if (pAdjusted === null || mean === null || pAdjusted >= ALPHA || mean === 0) return 'cannot tell';
  return mean > 0 ? 'holds' : 'flips';
}

/** Holm over the first setting of each distinct pair set; the repeats take its adjusted p and verdict. */
function correct(measured: Measured[]): { distinct: number; tested: number } {
  const first = new Map<string, SensitivitySetting>();
  for (const m of measured) {
    const f = first.get(m.pairKey);
    // no pairs at all is no shared cell set: each empty setting stands alone
    if (f && m.pairKey) {
      m.setting.sameAs = f.label;
      f.equivalents.push(m.setting.label);
    } else first.set(m.pairKey || `empty:${first.size}`, m.setting);
  }
  const originals = [...first.values()];
  const adjusted = holmAdjust(originals.map((s) => s.p));
  originals.forEach((s, i) => {
    s.pAdjusted = adjusted[i];
    s.verdict = verdictOf(s.pAdjusted, s.mean);
  });
  const byLabel = new Map(originals.map((s) => [s.label, s]));
  for (const { setting } of measured)
    if (setting.sameAs) {
      const o = byLabel.get(setting.sameAs) as SensitivitySetting;
      setting.pAdjusted = o.pAdjusted;
      setting.verdict = o.verdict;
    }
  return { distinct: originals.length, tested: adjusted.filter((p) => p !== null).length };
}

export const fmtInterval = (ci: [number, number] | null): string =>
  ci ? `[${fmtSigned(ci[0])}, ${fmtSigned(ci[1])}]` : 'n/a';

const listed = (xs: SensitivitySetting[]): string =>
  xs.length ? ` (${xs.map((s) => `${s.label}: ${fmtSigned(s.mean)} ${fmtInterval(s.ci)}`).join('; ')})` : '';

/** The verdict sentence of a claim, every number taken from its settings. */
export function claimSentence(c: Omit<SensitivityClaim, 'sentence'>, metric: string): string {
  const distinct = c.settings.filter((s) => !s.sameAs);
  const holds = distinct.filter((s) => s.verdict === 'holds');
  const flips = distinct.filter((s) => s.verdict === 'flips');
  const unclear = distinct.length - holds.length - flips.length;
  const untested = distinct.filter((s) => s.pAdjusted === null).length;
  const repeats = c.settings.length - distinct.length;
  return (
    `${c.label} (${metric}, Holm over ${c.tested} setting${c.tested === 1 ? '' : 's'} tested): ` +
    `holds significantly in ${holds.length}${listed(holds)}; ` +
    `flips significantly in ${flips.length}${listed(flips)}; ` +
    `the data cannot tell in ${unclear}` +
    (untested ? ` (${untested} without a test: fewer than two paired seeds or no difference)` : '') +
    '.' +
    (repeats
      ? ` ${repeats} more setting${repeats === 1 ? '' : 's'} repeat${repeats === 1 ? 's' : ''} the cells of a row (named in its note).`
      : '')
  );
}

/** The table rows of a claim: one per distinct set of paired cells (its repeats are named in a note). */
export const distinctSettings = (c: Pick<SensitivityClaim, 'settings'>): SensitivitySetting[] =>
  c.settings.filter((s) => !s.sameAs);

/**
 * "steps=400, loss=softmax: the same cells as margin=1.5, margin=2 (each with loss=softmax)": the
 * settings a row stands for; undefined for a row without repeats.
 */
export function equivalenceNote(s: SensitivitySetting): string | undefined {
  if (!s.equivalents.length) return undefined;
  const suffix = s.otherLabel ? `, ${s.otherLabel}` : '';
  const shared = s.otherLabel !== '' && s.equivalents.every((e) => e.endsWith(suffix));
  const names = shared ? s.equivalents.map((e) => e.slice(0, -suffix.length)) : s.equivalents;
  return `${s.label}: the same cells as ${names.join(', ')}${shared ? ` (each with ${s.otherLabel})` : ''}.`;
}

export function computeSensitivity(exp: ExperimentRecord): SensitivityView | undefined {
  const spec = exp.meta.sensitivity;
  if (!spec) return undefined;
  const factors = spec.factors.map(toFactor);
  const cells = samples(exp, spec.metric);
  const values = axisValues(exp, cells);
  const factorNames = new Set(factors.map((f) => f.name));
  const grid = Object.keys(values).filter((a) => a !== 'seed' && !factorNames.has(a));
  const notes: string[] = [];
  if (!cells.length)
    notes.push(
      `No finished cell has ${spec.metric} in its eval.json, so nothing is paired (is the metric an eval.json key?).`,
    );
  let ambiguous = 0;
  const claims = spec.claims.map((raw) => {
    const claim = { axis: raw.axis, baseline: String(raw.baseline), treatment: String(raw.treatment) };
    if (!grid.includes(claim.axis)) notes.push(`${claim.axis} is not a grid axis of ${exp.meta.name}.`);
    const others = combinations(
      grid.filter((a) => a !== claim.axis),
      values,
    );
    const measured = factors.flatMap((factor) =>
      factor.values.flatMap((value) =>
        others.map((other) => measure(cells, { factor, value, other }, factors, claim)),
      ),
    );
    ambiguous += measured.reduce((s, m) => s + m.ambiguousSeeds, 0);
    const { distinct, tested } = correct(measured);
    const label = `${displayValue(claim.axis, claim.treatment)} > ${displayValue(claim.axis, claim.baseline)}`;
    // A setting without one paired seed has not been run (a study run in pieces): a note, not a row.
    const notRun = measured.filter((m) => m.setting.n === 0).map((m) => m.setting);
    if (notRun.length && cells.length) notes.push(notRunNote(label, notRun, others.length));
    const settings = measured.map((m) => m.setting).filter((st) => st.n > 0);
    const c = { ...claim, label, settings, distinct: distinct - notRun.length, tested };
    return { ...c, sentence: claimSentence(c, spec.metric) };
  });
  if (ambiguous)
    notes.push(
      `${ambiguous} seed slot(s) left unpaired: more than one cell of the slice had that seed (not a one-factor-at-a-time grid).`,
    );
  return { metric: spec.metric, factors, claims, notes };
}

/** "DASE > SE: not run yet (no seed finished on both sides): width=8, width=32, steps=800 (loss=MEMS)". */
function notRunNote(claim: string, missing: SensitivitySetting[], perValue: number): string {
  const byValue = new Map<string, SensitivitySetting[]>();
  for (const st of missing) {
    const key = `${st.factor}=${st.value}`;
    byValue.set(key, [...(byValue.get(key) ?? []), st]);
  }
  const parts = [...byValue].map(([key, sts]) =>
    sts.length === perValue ? key : `${key} (${sts.map((st) => st.otherLabel).join('; ')})`,
  );
  return `${claim}: not run yet (no seed finished on both sides), left out: ${parts.join(', ')}.`;
}

/** The table note shared by every format: the CI method, the test, the correction, the verdict rule. */
export function methodNote(metric: string): string {
  return (
    `Δ = treatment − baseline in ${metric}, paired by seed (only seeds finished on both sides); ` +
    `${Math.round(CI_LEVEL * 100)} % CI = mean Δ ± t(0.975, n − 1) · sd/√n; p = two-sided paired t-test; ` +
    `p (Holm) = Holm–Bonferroni step-down adjustment over the claim's distinct settings tested ` +
    `(a setting with the same cells as another is counted once). Holds / flips: p (Holm) < ${ALPHA} ` +
    `with Δ > 0 / Δ < 0; otherwise (or n < 2) the data cannot tell.`
  );
}
