/**
 * The study's findings as text generated from the computed verdicts (findings.md beside sensitivity.md,
 * pasted into the README): one sentence per claim and factor, and, where the study has MEMS at m = 1
 * (a softmax over negative squared distances with no margin: the Euclidean softmax), what the logit form
 * (m = 1 against softmax) and the margin (m > 1 against m = 1) each do. Pure: the view in, Markdown out.
 */
import { pairedTTest } from '../stats';
import { fmtSigned } from '../table/format';
import { mdText } from '../util/markdown';
import {
  fmtInterval,
  type SensitivityClaim,
  type SensitivityFactor,
  type SensitivitySetting,
  type SensitivityView,
} from './compute';
import { fmtPNearAlpha } from './markdown';
import { tInterval } from './stats';

/** The factor whose value 1 turns MEMS into the Euclidean softmax (experiments/sensitivity.yaml). */
export const MARGIN_FACTOR = 'margin';
const NO_MARGIN = '1';

const VERDICT_PHRASE = { holds: 'holds', flips: 'flips', 'cannot tell': 'the data cannot tell' } as const;

/** "steps=800 (block=SE −0.039 [−0.049, −0.028])": a value with its settings' Δ and CI. */
function atValue(value: string, factor: string, sts: SensitivitySetting[]): string {
  const parts = sts.map(
    (s) => `${s.otherLabel ? `${s.otherLabel} ` : ''}${fmtSigned(s.mean)} ${fmtInterval(s.ci)}`,
  );
  return `${factor}=${value} (${parts.join('; ')})`;
}

/** One sentence: the claim against one factor, by verdict, each value with its Δ and CI per setting. */
export function factorSentence(c: SensitivityClaim, f: SensitivityFactor): string {
  // the baseline value is the centre of the grid, which centreSentence reports once for every factor
  const measured = c.settings.filter(
    (s) => s.factor === f.name && s.value !== f.baseline && s.applies && s.mean !== null,
  );
  const head = `${c.label} against ${f.name} (${f.values.join(', ')}; baseline ${f.baseline})`;
  const missing = f.values.filter((v) => v !== f.baseline && !measured.some((s) => s.value === v));
  if (!measured.length)
    return `${head}: not run yet beyond the baseline${missing.length ? ` (no paired seed at ${missing.map((v) => `${f.name}=${v}`).join(', ')})` : ''}.`;
  const clauses = (['holds', 'flips', 'cannot tell'] as const).flatMap((verdict) => {
    const sts = measured.filter((s) => s.verdict === verdict);
    if (!sts.length) return [];
    const values = f.values.filter((v) => sts.some((s) => s.value === v));
    const list = values.map((v) =>
      atValue(
        v,
        f.name,
        sts.filter((s) => s.value === v),
      ),
    );
    return [`${VERDICT_PHRASE[verdict]} at ${list.join(', ')}`];
  });
  const notRun = missing.length ? `; not run yet at ${missing.map((v) => `${f.name}=${v}`).join(', ')}` : '';
  return `${head}: ${clauses.join('; ')}${notRun}.`;
}

interface Contrast {
  other: string;
  n: number;
  mean: number | null;
  ci: [number, number] | null;
  p: number | null;
}

/** Treatment at margin m against treatment at m = 1, paired by seed: the difference of the two Δs. */
function marginContrast(m: SensitivitySetting, one: SensitivitySetting): Contrast {
  const seeds = m.seeds.filter((s) => one.seeds.includes(s));
  const a = seeds.map((s) => m.diffs[m.seeds.indexOf(s)]!);
  const b = seeds.map((s) => one.diffs[one.seeds.indexOf(s)]!);
  const t = pairedTTest(a, b);
  return { other: m.otherLabel, n: t.n, mean: t.meanDiff, ci: tInterval(t.n, t.meanDiff, t.sdDiff), p: t.p };
}

/** "p = 0.012", "p < 0.001", "p n/a" */
const pText = (p: number | null): string => {
  const t = fmtPNearAlpha(p);
  return t.startsWith('<') ? `p ${t}` : t === 'n/a' ? 'p n/a' : `p = ${t}`;
};

const contrastText = (x: Contrast): string =>
  `${x.other ? `${x.other} ` : ''}${fmtSigned(x.mean)} ${fmtInterval(x.ci)}, ${pText(x.p)}`;

/**
 * Form against margin, when the claim's treatment has a margin factor measured at m = 1: m = 1 against
 * the baseline is the logit form alone (its verdict is the claim's), and m > 1 against m = 1 is the margin
 * alone (paired by seed; uncorrected p, a description rather than one of the claim's tests).
 */
export function formAndMarginSentences(c: SensitivityClaim, factors: SensitivityFactor[]): string[] {
  const f = factors.find((x) => x.name === MARGIN_FACTOR && x.when[c.axis] === c.treatment);
  if (!f) return [];
  const at = (v: string) =>
    c.settings.filter((s) => s.factor === f.name && s.value === v && s.applies && s.n > 0);
  const ones = at(NO_MARGIN);
  if (!ones.length) return [];
  const form =
    `Logit form alone (${c.label} at ${f.name}=1, the Euclidean softmax): ` +
    ones
      .map(
        (s) =>
          `${s.otherLabel ? `${s.otherLabel} ` : ''}${fmtSigned(s.mean)} ${fmtInterval(s.ci)}, ${VERDICT_PHRASE[s.verdict]}`,
      )
      .join('; ') +
    '.';
  const larger = f.values.filter((v) => Number(v) > 1 && at(v).length);
  const margin = larger.map((v) => {
    const xs = at(v).flatMap((m) => {
      const one = ones.find((o) => o.otherLabel === m.otherLabel);
      return one ? [marginContrast(m, one)] : [];
    });
    return `m = ${v}: ${xs.map(contrastText).join('; ')}`;
  });
  return [
    form,
    ...(margin.length
      ? [`Margin alone (${f.name} m against m = 1, same seeds, uncorrected p): ${margin.join('; ')}.`]
      : []),
  ];
}

/** The claim at the centre of the grid (every factor at its baseline), per other setting. */
export function centreSentence(c: SensitivityClaim, factors: SensitivityFactor[]): string {
  const f = factors[0];
  const centre = f
    ? c.settings.filter((s) => s.factor === f.name && s.value === f.baseline && s.mean !== null)
    : [];
  const where = factors.map((x) => `${x.name}=${x.baseline}`).join(', ');
  if (!centre.length) return `${c.label} at the centre (${where}): not run yet.`;
  const parts = centre.map(
    (s) =>
      `${s.otherLabel ? `${s.otherLabel} ` : ''}${fmtSigned(s.mean)} ${fmtInterval(s.ci)}, ${VERDICT_PHRASE[s.verdict]}`,
  );
  return `${c.label} at the centre (${where}): ${parts.join('; ')}.`;
}

/** findings.md: per claim its centre, a list item per factor, then the form-and-margin items where they apply. */
export function findingsMarkdown(v: SensitivityView): string {
  const items = v.claims.flatMap((c) => [
    centreSentence(c, v.factors),
    ...v.factors.map((f) => factorSentence(c, f)),
    ...formAndMarginSentences(c, v.factors),
  ]);
  return `${items.map((s) => `- ${mdText(s)}`).join('\n')}\n`;
}
