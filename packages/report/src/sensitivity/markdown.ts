/** The sensitivity section in Markdown: per claim, its verdict sentence, the table of settings, its chart. */
import { fmtP, fmtSigned } from '../table/format';
import { mdCell, mdText } from '../util/markdown';
import { ALPHA } from './stats';
import {
  distinctSettings,
  equivalenceNote,
  fmtInterval,
  methodNote,
  type SensitivityClaim,
  type SensitivitySetting,
  type SensitivityView,
} from './compute';

/** The verdict cell: a row standing for other settings too says so (its note names them). */
export const verdictText = (s: SensitivitySetting): string =>
  s.equivalents.length ? `${s.verdict} (+${s.equivalents.length} same)` : s.verdict;

/** The columns every format shows, as plain text (each format escapes them). */
export function settingColumns(metric: string): string[] {
  return ['Factor', 'Value', 'Other setting', 'n', `Δ ${metric}`, '95 % CI', 'p', 'p (Holm)', 'Verdict'];
}

/** fmtP, with a fourth decimal where three would round a significant p up to the level (0.0497, not 0.050). */
export function fmtPNearAlpha(p: number | null): string {
  const text = fmtP(p);
  return p !== null && p < ALPHA && Number(text) >= ALPHA ? p.toFixed(4) : text;
}

export function settingCells(s: SensitivitySetting): string[] {
  return [
    s.factor,
    s.value,
    s.otherLabel || 'all',
    String(s.n),
    s.mean === null ? 'n/a' : fmtSigned(s.mean),
    fmtInterval(s.ci),
    fmtPNearAlpha(s.p),
    fmtPNearAlpha(s.pAdjusted),
    verdictText(s),
  ];
}

/** The notes under a claim's table: for each row that stands for other settings, which ones. */
export const claimNotes = (c: SensitivityClaim): string[] =>
  distinctSettings(c).flatMap((s) => equivalenceNote(s) ?? []);

function claimMarkdown(
  c: SensitivityClaim,
  metric: string,
  chart: string | undefined,
  forest: string | undefined,
): string[] {
  const head = settingColumns(metric);
  const align = head.map((_, i) => (i === 0 || i === 2 || i === head.length - 1 ? ':--' : '--:'));
  return [
    `### ${mdText(c.label)}`,
    '',
    mdText(c.sentence),
    '',
    ...(forest ? [`![${mdText(`${c.label}: Δ ${metric} per distinct setting`)}](${forest})`, ''] : []),
    `| ${head.map(mdCell).join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...distinctSettings(c).map((s) => `| ${settingCells(s).map(mdCell).join(' | ')} |`),
    '',
    ...claimNotes(c).map((n) => `- ${mdText(n)}`),
    ...(claimNotes(c).length ? [''] : []),
    ...(chart ? [`![${mdText(`${c.label}: Δ ${metric} by factor`)}](${chart})`, ''] : []),
  ];
}

/**
 * The section, from `## Sensitivity` on. `chartFile(i)` is the link to claim i's chart (relative to
 * the Markdown file), undefined for none; `forestFile(i)` the same for its forest plot.
 */
export function sensitivityMarkdown(
  v: SensitivityView,
  chartFile: (i: number) => string | undefined,
  forestFile: (i: number) => string | undefined = () => undefined,
): string {
  return [
    '## Sensitivity',
    '',
    mdText(methodNote(v.metric)),
    '',
    ...v.factors.map(
      (f) =>
        `- ${mdText(`${f.name} (${f.path}): ${f.values.join(', ')}; baseline ${f.baseline}`)}${
          Object.keys(f.when).length
            ? mdText(
                `; only where ${Object.entries(f.when)
                  .map(([k, x]) => `${k}=${x}`)
                  .join(', ')}`,
              )
            : ''
        }`,
    ),
    ...v.notes.map((n) => `- ${mdText(n)}`),
    '',
    ...v.claims.flatMap((c, i) => claimMarkdown(c, v.metric, chartFile(i), forestFile(i))),
  ].join('\n');
}
