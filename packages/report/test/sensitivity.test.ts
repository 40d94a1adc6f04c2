/**
 * The sensitivity section from a fixture store with known Δs: n, mean, t intervals, Holm-adjusted p
 * and the verdict sentences, checked against numbers computed here from the values written to the
 * store (closed-form t quantiles and p-values for df = 1 and 2; Holm written out again) — not through
 * the report's own stats modules. Then the files: Markdown, LaTeX (compiled when pdflatex is there),
 * Vega-Lite specs and the dashboard page.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ReportInputError } from '../src/messages';
import { buildReport } from '../src/report';
import {
  computeSensitivity,
  distinctSettings,
  equivalenceNote,
  fmtInterval,
  type SensitivityClaim,
  type SensitivitySetting,
  type SensitivityView,
} from '../src/sensitivity/compute';
import { sensitivityLatex } from '../src/sensitivity/latex';
import { expectCompilesInArticles, PDFLATEX } from './helpers/latex';
import { fmtPNearAlpha, sensitivityMarkdown } from '../src/sensitivity/markdown';
import { findingsMarkdown, formAndMarginSentences } from '../src/sensitivity/findings';
import { forestSpec, sensitivityPoints, sensitivitySpec } from '../src/sensitivity/spec';
import { tInterval } from '../src/sensitivity/stats';
import { fmtSigned } from '../src/table/format';
import { htmlEntitiesOutsideCode, injectedHtml, renderPermissive } from './helpers/markdown-safety';
import { loadRunStore } from '../src/store/read';
import { tmpDir, writeExperiment, type FixtureCell } from './helpers/fixtures';

jest.setTimeout(120_000);

/** t(0.975, df): df = 2 in closed form (4.302652729911275), df = 1 = tan(0.475π). */
const T975: Record<number, number> = { 1: Math.tan(0.475 * Math.PI), 2: 4.302652729911275 };
/** two-sided p of a t statistic, closed forms for df = 1 and 2 */
const pOf = (t: number, df: number): number =>
  df === 1 ? 1 - (2 * Math.atan(Math.abs(t))) / Math.PI : 1 - Math.abs(t) / Math.sqrt(2 + t * t);
const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + (x - avg(xs)) ** 2, 0) / (xs.length - 1));

const SENSITIVITY = {
  metric: 'mAP@all',
  claims: [
    { axis: 'block', baseline: 'se', treatment: 'dase' },
    { axis: 'loss', baseline: 'softmax', treatment: 'mems' },
  ],
  factors: [
    { name: 'steps', path: 'train.steps', values: [200, 400, 800], baseline: 400, when: {} },
    { name: 'margin', path: 'loss.margin', values: [1.5, 2, 4], baseline: 2, when: { loss: 'mems' } },
  ],
};

type Variant = 'base' | 'steps=200' | 'steps=800' | 'margin=1.5' | 'margin=4';
const VARIANTS: Record<Variant, { steps: number; margin: number }> = {
  base: { steps: 400, margin: 2 },
  'steps=200': { steps: 200, margin: 2 },
  'steps=800': { steps: 800, margin: 2 },
  'margin=1.5': { steps: 400, margin: 1.5 },
  'margin=4': { steps: 400, margin: 4 },
};
const OFFSET: Record<Variant, number> = {
  base: 0,
  'steps=200': -0.05,
  'steps=800': 0.02,
  'margin=1.5': -0.01,
  'margin=4': 0.005,
};
/** DASE − SE per loss × variant × seed: the known Δs of the block claim */
const DELTA: Record<string, [number, number, number]> = {
  'softmax|base': [0.01, -0.01, 0.02], // cannot tell
  'softmax|steps=200': [0.005, 0.0, -0.004], // cannot tell
  'softmax|steps=800': [0.05, 0.051, 0.049], // holds
  'mems|base': [0.02, 0.0, 0.01], // cannot tell
  'mems|steps=200': [0.01, 0.03, 0.0], // DASE seed 2 failed: n = 2, cannot tell
  'mems|steps=800': [0.004, 0.012, -0.002], // cannot tell
  'mems|margin=1.5': [0.01, 0.02, 0.03], // DASE seeds 1 and 2 failed: n = 1, no test
  'mems|margin=4': [-0.03, -0.031, -0.029], // flips
};
const FAILED = new Set(['dase|mems|steps=200|2', 'dase|mems|margin=1.5|1', 'dase|mems|margin=1.5|2']);

/** mAP@all written for every finished cell, by block|loss|variant|seed */
const written = new Map<string, number>();

function sensitivityCells(): FixtureCell[] {
  const cells: FixtureCell[] = [];
  for (const loss of ['softmax', 'mems'])
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      if (loss === 'softmax' && variant.startsWith('margin')) continue; // margin applies to MEMS only
      for (const block of ['se', 'dase'])
        for (const seed of [0, 1, 2]) {
          const key = `${block}|${loss}|${variant}|${seed}`;
          const se =
            0.4 +
            [0, 0.013, 0.031][seed] +
            (loss === 'mems' ? 0.03 + [0.002, -0.003, 0.004][seed] : 0) +
            OFFSET[variant];
          const map = block === 'se' ? se : se + DELTA[`${loss}|${variant}`][seed];
          const { steps, margin } = VARIANTS[variant];
          const failed = FAILED.has(key);
          if (!failed) written.set(key, map);
          cells.push({
            axes: { block, loss, seed, steps, margin: loss === 'mems' ? margin : 'n/a' },
            state: failed ? 'failed' : 'finished',
            map: failed ? undefined : map,
            artifacts: false,
          });
        }
    }
  return cells;
}

/** The differences the store holds for one block-claim setting, computed from the written values. */
function blockDiffs(loss: string, variant: Variant): number[] {
  const out: number[] = [];
  for (const seed of [0, 1, 2]) {
    const t = written.get(`dase|${loss}|${variant}|${seed}`);
    const b = written.get(`se|${loss}|${variant}|${seed}`);
    if (t !== undefined && b !== undefined) out.push(t - b);
  }
  return out;
}

async function writeSensitivityStore(runs: string, name: string, extra: object = SENSITIVITY) {
  await writeExperiment(runs, {
    name,
    axes: {
      block: ['se', 'dase'],
      loss: ['softmax', 'mems'],
      seed: [0, 1, 2],
      steps: [200, 400, 800],
      margin: [1.5, 2, 4, 'n/a'],
    },
    cells: sensitivityCells(),
  });
  const file = path.join(runs, name, 'experiment.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), sensitivity: extra }),
  );
}

/** mean, sd and 95 % t interval of some differences (for hand-built settings) */
function pairedTTestOf(d: number[]) {
  return { mean: avg(d), sd: sd(d), ci: tInterval(d.length, avg(d), sd(d)) };
}

let runs: string;
let view: SensitivityView;
let block: SensitivityClaim;

beforeAll(async () => {
  runs = path.join(tmpDir(), 'runs');
  await writeSensitivityStore(runs, 'sens');
  await writeExperiment(runs, {
    name: 'plain',
    axes: { block: ['se', 'dase'], loss: ['softmax'], seed: [0] },
    cells: [
      { axes: { block: 'se', loss: 'softmax', seed: 0 }, state: 'finished', map: 0.4, artifacts: false },
      { axes: { block: 'dase', loss: 'softmax', seed: 0 }, state: 'finished', map: 0.5, artifacts: false },
    ],
  });
  view = computeSensitivity(loadRunStore(runs, 'sens').experiments[0]) as SensitivityView;
  block = view.claims[0]!;
});

const setting = (c: SensitivityClaim, label: string) => {
  const s = c.settings.find((x) => x.label === label);
  if (!s) throw new Error(`no setting ${label}; have ${c.settings.map((x) => x.label).join(' / ')}`);
  return s;
};

/** block-claim settings with their own cells, in the section's order, and the store slice of each */
const DISTINCT: [string, string, Variant][] = [
  ['steps=200, loss=softmax', 'softmax', 'steps=200'],
  ['steps=200, loss=MEMS', 'mems', 'steps=200'],
  ['steps=400, loss=softmax', 'softmax', 'base'],
  ['steps=400, loss=MEMS', 'mems', 'base'],
  ['steps=800, loss=softmax', 'softmax', 'steps=800'],
  ['steps=800, loss=MEMS', 'mems', 'steps=800'],
  ['margin=1.5, loss=MEMS', 'mems', 'margin=1.5'],
  ['margin=4, loss=MEMS', 'mems', 'margin=4'],
];

describe('sensitivity statistics', () => {
  it('lists every factor value × other setting of each claim, and none for an experiment without the block', () => {
    expect(view.metric).toBe('mAP@all');
    expect(view.claims.map((c) => c.label)).toEqual(['DASE > SE', 'MEMS > softmax']);
    // 2 factors × 3 values × 2 losses
    expect(block.settings.map((s) => s.label)).toEqual([
      ...['200', '400', '800'].flatMap((v) => [`steps=${v}, loss=softmax`, `steps=${v}, loss=MEMS`]),
      ...['1.5', '2', '4'].flatMap((v) => [`margin=${v}, loss=softmax`, `margin=${v}, loss=MEMS`]),
    ]);
    expect(computeSensitivity(loadRunStore(runs, 'plain').experiments[0])).toBeUndefined();
    expect(view.notes).toEqual([]);
    // a metric that is no eval.json key pairs nothing, and the notes say why
    const exp = loadRunStore(runs, 'sens').experiments[0];
    const other = computeSensitivity({
      ...exp,
      meta: { ...exp.meta, sensitivity: { ...exp.meta.sensitivity!, metric: 'mAP_all' } },
    });
    expect(other?.claims[0]?.settings.every((s) => s.n === 0 && s.verdict === 'cannot tell')).toBe(true);
    expect(other?.notes.join(' ')).toContain('No finished cell has mAP_all in its eval.json');
  });

  it('leaves settings without a paired seed (pieces not run yet) out of the rows and names them in a note', () => {
    const exp = loadRunStore(runs, 'sens').experiments[0]!;
    const partial = computeSensitivity({
      ...exp,
      // steps=800 not run at all; margin=4 run for SE only
      cells: exp.cells.filter(
        (c) =>
          c.config?.axes.steps !== 800 && !(c.config?.axes.margin === 4 && c.config?.axes.block === 'dase'),
      ),
    }) as SensitivityView;
    const [b, l] = partial.claims;
    expect(b!.settings.map((s) => s.label)).not.toContain('steps=800, loss=softmax');
    expect(b!.settings.every((s) => s.n > 0)).toBe(true);
    expect(partial.notes).toEqual([
      'DASE > SE: not run yet (no seed finished on both sides), left out: steps=800, margin=4 (loss=MEMS).',
      'MEMS > softmax: not run yet (no seed finished on both sides), left out: steps=800, margin=4 (block=DASE).',
    ]);
    expect(b!.sentence).not.toContain('steps=800');
    expect(l!.settings.find((s) => s.label === 'margin=4, block=SE')?.n).toBe(3);
  });

  it('pairs by seed and gives n, mean, sd and the 95 % t interval', () => {
    for (const [label, loss, variant] of DISTINCT) {
      const d = blockDiffs(loss, variant);
      const s = setting(block, label);
      expect({ label, n: s.n }).toEqual({ label, n: d.length });
      expect(s.diffs).toEqual(d);
      expect(s.mean).toBeCloseTo(avg(d), 14);
      if (d.length < 2) {
        expect(s.ci).toBeNull();
        expect(s.p).toBeNull();
        continue;
      }
      const half = (T975[d.length - 1] * sd(d)) / Math.sqrt(d.length);
      expect(s.sd).toBeCloseTo(sd(d), 14);
      expect(s.ci?.[0]).toBeCloseTo(avg(d) - half, 8);
      expect(s.ci?.[1]).toBeCloseTo(avg(d) + half, 8);
      const t = avg(d) / (sd(d) / Math.sqrt(d.length));
      expect(s.p).toBeCloseTo(pOf(t, d.length - 1), 10);
    }
    // hand check: d = [0.05, 0.051, 0.049] → mean 0.05, sd 0.001, half-width 4.3027 · 0.001/√3
    const s = setting(block, 'steps=800, loss=softmax');
    expect(s.mean).toBeCloseTo(0.05, 12);
    expect(s.ci?.[0]).toBeCloseTo(0.05 - 0.0024841377, 9);
    expect(setting(block, 'steps=200, loss=MEMS').seeds).toEqual(['0', '1']);
    expect(setting(block, 'margin=1.5, loss=MEMS').seeds).toEqual(['0']);
  });

  it('counts cells shared by two settings once and says which', () => {
    for (const v of ['1.5', '2', '4'])
      expect(setting(block, `margin=${v}, loss=softmax`).sameAs).toBe('steps=400, loss=softmax');
    expect(setting(block, 'margin=2, loss=MEMS').sameAs).toBe('steps=400, loss=MEMS');
    expect(block.settings.filter((s) => s.sameAs)).toHaveLength(4);
    expect(block.distinct).toBe(8);
    // the row of the first names the others; the table and the forest show the distinct ones only
    expect(setting(block, 'steps=400, loss=softmax').equivalents).toEqual([
      'margin=1.5, loss=softmax',
      'margin=2, loss=softmax',
      'margin=4, loss=softmax',
    ]);
    expect(distinctSettings(block).map((s) => s.label)).toEqual(
      block.settings.filter((s) => !s.sameAs).map((s) => s.label),
    );
    expect(new Set(distinctSettings(block).map((s) => s.label)).size).toBe(block.distinct);
    expect(equivalenceNote(setting(block, 'steps=400, loss=softmax'))).toBe(
      'steps=400, loss=softmax: the same cells as margin=1.5, margin=2, margin=4 (each with loss=softmax).',
    );
    expect(block.tested).toBe(7); // margin=1.5 on MEMS has one pair: no test
    const shared = setting(block, 'margin=4, loss=softmax');
    const original = setting(block, 'steps=400, loss=softmax');
    expect([shared.n, shared.mean, shared.pAdjusted, shared.verdict]).toEqual([
      original.n,
      original.mean,
      original.pAdjusted,
      original.verdict,
    ]);
  });

  it('adjusts p by Holm over the distinct settings tested', () => {
    // p of each tested setting, from the closed forms
    const ps = DISTINCT.map(([label, loss, variant]) => {
      const d = blockDiffs(loss, variant);
      return { label, p: d.length < 2 ? null : pOf(avg(d) / (sd(d) / Math.sqrt(d.length)), d.length - 1) };
    }).filter((x): x is { label: string; p: number } => x.p !== null);
    expect(ps).toHaveLength(7);
    // Holm by hand: sorted ascending, p̃(k) = max_{j ≤ k} min(1, (m − j + 1) p(j))
    const sorted = [...ps].sort((a, b) => a.p - b.p);
    let prev = 0;
    const expected = new Map<string, number>();
    sorted.forEach((x, k) => {
      prev = Math.max(prev, Math.min(1, (7 - k) * x.p));
      expected.set(x.label, prev);
    });
    for (const [label, adj] of expected) expect(setting(block, label).pAdjusted).toBeCloseTo(adj, 12);
    // the two smallest: the holds and the flips setting, multiplied by 7 and 6
    expect(sorted.map((x) => x.label).slice(0, 2)).toEqual([
      'steps=800, loss=softmax',
      'margin=4, loss=MEMS',
    ]);
    expect(setting(block, 'steps=800, loss=softmax').pAdjusted).toBeCloseTo(7 * sorted[0].p, 14);
    expect(setting(block, 'margin=4, loss=MEMS').pAdjusted).toBeCloseTo(
      Math.max(7 * sorted[0].p, 6 * sorted[1].p),
      14,
    );
    expect(setting(block, 'margin=1.5, loss=MEMS').pAdjusted).toBeNull();
  });

  it('gives the verdict per setting and the generated sentence', () => {
    const verdicts = Object.fromEntries(DISTINCT.map(([l]) => [l, setting(block, l).verdict]));
    expect(verdicts).toEqual({
      'steps=200, loss=softmax': 'cannot tell',
      'steps=200, loss=MEMS': 'cannot tell',
      'steps=400, loss=softmax': 'cannot tell',
      'steps=400, loss=MEMS': 'cannot tell',
      'steps=800, loss=softmax': 'holds',
      'steps=800, loss=MEMS': 'cannot tell',
      'margin=1.5, loss=MEMS': 'cannot tell',
      'margin=4, loss=MEMS': 'flips',
    });
    expect(block.sentence).toBe(
      'DASE > SE (mAP@all, Holm over 7 settings tested): holds significantly in 1 (steps=800, loss=softmax: +0.050 [+0.048, +0.052]); ' +
        'flips significantly in 1 (margin=4, loss=MEMS: -0.030 [-0.032, -0.028]); the data cannot tell in 6 ' +
        '(1 without a test: fewer than two paired seeds or no difference). 4 more settings repeat the cells of a row (named in its note).',
    );
  });

  it('slices the loss claim by block, with margin set against softmax cells that carry "n/a"', () => {
    const loss = view.claims[1]!;
    expect(loss.settings.map((s) => s.label)).toContain('margin=4, block=DASE');
    // MEMS (margin 4) − softmax, on SE: the written values, seed by seed
    const d = [0, 1, 2].map(
      (seed) =>
        (written.get(`se|mems|margin=4|${seed}`) as number) -
        (written.get(`se|softmax|base|${seed}`) as number),
    );
    const s = setting(loss, 'margin=4, block=SE');
    expect(s.n).toBe(3);
    expect(s.mean).toBeCloseTo(avg(d), 14);
    expect(s.ci?.[1]).toBeCloseTo(avg(d) + (T975[2] * sd(d)) / Math.sqrt(3), 8);
    // steps=400 and margin=2 are the same cells on each block
    expect(setting(loss, 'margin=2, block=SE').sameAs).toBe('steps=400, block=SE');
    const holds = loss.settings.filter((x) => !x.sameAs && x.verdict === 'holds').length;
    const flips = loss.settings.filter((x) => !x.sameAs && x.verdict === 'flips').length;
    expect(loss.sentence).toMatch(
      new RegExp(
        `^MEMS > softmax \\(mAP@all, Holm over ${loss.tested} settings tested\\): holds significantly in ${holds}`,
      ),
    );
    expect(loss.sentence).toContain(`; flips significantly in ${flips}`);
    expect(loss.sentence).toContain(`; the data cannot tell in ${loss.distinct - holds - flips}`);
  });

  it('rejects a sensitivity block that is not names, strings and scalars, naming the field', async () => {
    const dir = path.join(tmpDir(), 'runs');
    const bad = [
      { ...SENSITIVITY, factors: [{ ...SENSITIVITY.factors[0], name: '../steps' }] },
      { ...SENSITIVITY, factors: [{ ...SENSITIVITY.factors[0], values: [{ $gt: 1 }] }] },
      { ...SENSITIVITY, claims: [{ axis: 'block', baseline: ['se'], treatment: 'dase' }] },
      { ...SENSITIVITY, factors: [{ ...SENSITIVITY.factors[0], baseline: 300 }] },
    ];
    await writeSensitivityStore(dir, 'bad');
    const file = path.join(dir, 'bad', 'experiment.json');
    const meta = JSON.parse(fs.readFileSync(file, 'utf8'));
    for (const extra of bad) {
      fs.writeFileSync(file, JSON.stringify({ ...meta, sensitivity: extra }));
      expect(() => loadRunStore(dir, 'bad')).toThrow(ReportInputError);
      expect(() => loadRunStore(dir, 'bad')).toThrow(/sensitivity\.(factors|claims)\[0\]/);
    }
  });
});

describe('sensitivity outputs', () => {
  const schema = JSON.parse(
    fs.readFileSync(require.resolve('vega-lite/build/vega-lite-schema.json'), 'utf8'),
  );

  it('builds a valid Vega-Lite chart per claim: a panel per factor, CI bars, a zero rule', () => {
    const ajv = new Ajv({ strict: false, allowUnionTypes: true, validateFormats: false });
    const validate = ajv.compile(schema);
    const warnings: string[] = [];
    const logger = {
      level: () => logger,
      warn: (...a: unknown[]) => (warnings.push(a.join(' ')), logger),
      info: () => logger,
      debug: () => logger,
      error: (...a: unknown[]) => {
        throw new Error(a.join(' '));
      },
    };
    for (const c of view.claims) {
      const spec: TopLevelSpec = sensitivitySpec(c, view.factors, view.metric);
      expect(validate(spec)).toBe(true);
      expect(compile(spec, { logger: logger as never }).spec).toBeTruthy();
      const plain = spec as unknown as {
        concat: { layer: { encoding: Record<string, { datum?: number; field?: string }> }[] }[];
        data: { values: unknown[] };
      };
      expect(plain.concat).toHaveLength(2);
      const layers = plain.concat[0]!.layer;
      expect(layers[0]!.encoding.y?.datum).toBe(0);
      expect(layers[1]!.encoding.y2?.field).toBe('hi');
      expect(layers[2]!.encoding.color?.field).toBe('setting');
      // no phantom points: a setting is drawn only where its cells ran at the factor's value
      const points = plain.data.values as { factor: string; value: string; setting: string }[];
      expect(points).toHaveLength(c.settings.filter((s) => s.applies).length);
      for (const p of points) {
        const st = c.settings.find(
          (s) => s.factor === p.factor && s.value === p.value && (s.otherLabel || 'all') === p.setting,
        )!;
        expect({ p, applies: st.applies }).toEqual({ p, applies: true });
      }
    }
    // softmax has no MEMS margin: its margin settings are the baseline cells, never drawn at a margin
    const blockPoints = sensitivityPoints(view.claims[0]!);
    expect(blockPoints.filter((p) => p.factor === 'margin' && p.setting === 'loss=softmax')).toEqual([]);
    expect(
      blockPoints.filter((p) => p.factor === 'margin' && p.setting === 'loss=MEMS').map((p) => p.value),
    ).toEqual(['1.5', '2', '4']);
    expect(warnings).toEqual([]);
  });

  it('writes the section into report.md, sensitivity.md/.tex, the charts and a dashboard page', async () => {
    const out = path.join(tmpDir(), 'out');
    await buildReport({ runsDir: runs, out, png: false, referenceFile: path.join(out, 'none.yaml') });
    const dir = path.join(out, 'sens');
    const report = fs.readFileSync(path.join(dir, 'report.md'), 'utf8');
    expect(report).toContain('## Sensitivity');
    expect(report).toContain('### DASE > SE');
    expect(report).toContain('Holm–Bonferroni');
    expect(report).toContain('](charts/sensitivity-1-block.svg)');
    expect(report).toContain(
      '| steps | 800 | loss=softmax | 3 | +0.050 | [+0.048, +0.052] | <0.001 | <0.001 | holds |',
    );
    // one row per distinct setting: the repeats of the centre are named in a note, not shown again
    expect(report).not.toContain('| margin | 4 | loss=softmax | 3 |');
    expect(report).toContain('| steps | 400 | loss=softmax | 3 |');
    expect(report).toContain(
      '- steps=400, loss=softmax: the same cells as margin=1.5, margin=2, margin=4 (each with loss=softmax).',
    );
    expect(report).toContain('](charts/sensitivity-forest-1-block.svg)');
    expect(fs.existsSync(path.join(dir, 'charts', 'sensitivity-forest-1-block.vl.json'))).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'sensitivity.md'), 'utf8')).toContain('MEMS > softmax');
    for (const f of ['report.md', 'sensitivity.md', 'findings.md'])
      expect({ f, entities: htmlEntitiesOutsideCode(fs.readFileSync(path.join(dir, f), 'utf8')) }).toEqual({
        f,
        entities: [],
      });
    const tex = fs.readFileSync(path.join(dir, 'sensitivity.tex'), 'utf8');
    for (const s of [
      '\\toprule',
      '\\midrule',
      '\\bottomrule',
      'Holm–Bonferroni',
      '\\multicolumn{8}{@{}l}{\\textit{steps}}',
    ])
      expect(tex).toContain(s);
    expect(tex).toContain('800 & loss=softmax & $3$ & $+0.050$ & $[+0.048, +0.052]$');
    for (const f of ['sensitivity-1-block', 'sensitivity-2-loss']) {
      expect(fs.existsSync(path.join(dir, 'charts', `${f}.svg`))).toBe(true);
      expect(
        JSON.parse(fs.readFileSync(path.join(dir, 'charts', `${f}.vl.json`), 'utf8')).concat,
      ).toHaveLength(2);
    }
    const page = fs.readFileSync(path.join(out, 'dashboard', 'e', 'sens', 'sensitivity.html'), 'utf8');
    expect(page).toContain(block.sentence.replace(/>/g, '&gt;'));
    expect(page).toContain('data-chart="sensitivity-0"');
    const data = JSON.parse(
      page.match(/<script type="application\/json" id="page-data">(.*?)<\/script>/s)![1],
    );
    // per claim its forest plot, then the factor panels
    expect(Object.keys(data.specs)).toEqual(['forest-0', 'sensitivity-0', 'forest-1', 'sensitivity-1']);
    expect(page).toContain('data-chart="forest-0"');
    const index = fs.readFileSync(path.join(out, 'dashboard', 'e', 'sens', 'index.html'), 'utf8');
    expect(index).toContain('href="sensitivity.html"');
    // the experiment page has the forest plots as a panel too (chart record sensitivity-forest)
    expect(index).toContain('data-chart="forest"');
    // an experiment without the block gets none of it
    expect(fs.readFileSync(path.join(out, 'plain', 'report.md'), 'utf8')).not.toContain('Sensitivity');
    expect(fs.existsSync(path.join(out, 'plain', 'sensitivity.md'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'dashboard', 'e', 'plain', 'sensitivity.html'))).toBe(false);
    expect(fs.readFileSync(path.join(out, 'dashboard', 'e', 'plain', 'index.html'), 'utf8')).not.toContain(
      'sensitivity.html',
    );
  });

  it('escapes store strings in every format', () => {
    const evil = '<script>x</script> $\\input{/etc/passwd}$ [a](javascript:1) | &';
    const hostile: SensitivityView = JSON.parse(JSON.stringify(view));
    const c = hostile.claims[0]!;
    c.label = evil;
    c.sentence = evil;
    c.settings[0]!.otherLabel = evil;
    c.settings[0]!.value = evil;
    const md = sensitivityMarkdown(hostile, () => undefined);
    // backslash escapes, not entities: the source reads as text and renders to it, with no tag or link
    expect(injectedHtml(md)).toEqual([]);
    expect(htmlEntitiesOutsideCode(md)).toEqual([]);
    expect(md).toContain('\\<script>x\\</script>');
    expect(renderPermissive(md)).toContain(
      '&lt;script&gt;x&lt;/script&gt; $\\input{/etc/passwd}$ [a](javascript:1) | &amp;',
    );
    const tex = sensitivityLatex(hostile, 'x_y');
    expect(tex).not.toContain('\\input{');
    expect(tex).toContain('\\textbackslash{}input\\{/etc/passwd\\}');
  });

  (PDFLATEX ? it : it.skip)(
    'LaTeX: compiles in a one- and a two-column article without an overfull box (skipped without pdflatex)',
    () => {
      const dir = tmpDir();
      fs.writeFileSync(path.join(dir, 's.tex'), sensitivityLatex(view, 'sens'));
      expectCompilesInArticles(dir, ['s.tex']);
    },
  );
});

describe('the forest plot and the findings', () => {
  it('draws one forest row per distinct setting: Δ, its CI, the verdict colour and a zero line', () => {
    const schema = JSON.parse(
      fs.readFileSync(require.resolve('vega-lite/build/vega-lite-schema.json'), 'utf8'),
    );
    const validate = new Ajv({ strict: false, allowUnionTypes: true, validateFormats: false }).compile(
      schema,
    );
    for (const c of view.claims) {
      const spec = forestSpec(c, view.metric);
      expect(validate(spec)).toBe(true);
      expect(compile(spec).spec).toBeTruthy();
      const plain = spec as unknown as {
        data: { values: { label: string; row: string; mean: number; lo: number | null; verdict: string }[] };
        layer: { encoding: Record<string, { datum?: number; field?: string }> }[];
      };
      const rows = plain.data.values;
      expect(rows.map((r) => r.label)).toEqual(distinctSettings(c).map((s) => s.label));
      expect(new Set(rows.map((r) => r.row)).size).toBe(rows.length);
      expect(plain.layer[0]!.encoding.x?.datum).toBe(0);
      expect(plain.layer[1]!.encoding.x2?.field).toBe('hi');
      expect(plain.layer[2]!.encoding.color?.field).toBe('verdict');
    }
    const rows = (forestSpec(block, 'mAP@all') as unknown as { data: { values: { row: string }[] } }).data
      .values;
    expect(rows.map((r) => r.row)).toContain('steps=400, loss=softmax (+3 same)');
  });

  it('writes one sentence per claim and factor from the verdicts, the centre once', () => {
    const text = findingsMarkdown(view);
    const lines = text.trimEnd().split('\n');
    // per claim: the centre, then each factor
    expect(lines).toHaveLength(view.claims.length * (1 + view.factors.length));
    const s800 = setting(block, 'steps=800, loss=softmax');
    const s800m = setting(block, 'steps=800, loss=MEMS');
    const s200 = setting(block, 'steps=200, loss=softmax');
    const s200m = setting(block, 'steps=200, loss=MEMS');
    const at = (x: SensitivitySetting) => `${x.otherLabel} ${fmtSigned(x.mean)} ${fmtInterval(x.ci)}`;
    expect(lines[1]).toBe(
      `- DASE > SE against steps (200, 400, 800; baseline 400): holds at steps=800 (${at(s800)}); ` +
        `the data cannot tell at steps=200 (${at(s200)}; ${at(s200m)}), steps=800 (${at(s800m)}).`,
    );
    const c400 = setting(block, 'steps=400, loss=softmax');
    expect(lines[0]).toMatch(/^- DASE > SE at the centre \(steps=400, margin=2\): loss=softmax /);
    expect(lines[0]).toContain(`${at(c400)}, the data cannot tell`);
    // softmax has no margin: the margin sentence speaks of MEMS only
    expect(lines[2]).toMatch(
      /^- DASE > SE against margin \(1\.5, 2, 4; baseline 2\): flips at margin=4 \(loss=MEMS /,
    );
    expect(lines[2]).not.toContain('loss=softmax');
    expect(htmlEntitiesOutsideCode(text)).toEqual([]);
  });

  it('says what the logit form (m = 1 against softmax) and the margin (m > 1 against m = 1) each do', () => {
    const mk = (value: string, other: string, seeds: string[], diffs: number[]): SensitivitySetting => {
      const t = pairedTTestOf(diffs);
      return {
        factor: 'margin',
        value,
        other: { block: other },
        otherLabel: `block=${other}`,
        label: `margin=${value}, block=${other}`,
        seeds,
        diffs,
        n: diffs.length,
        mean: t.mean,
        sd: t.sd,
        ci: t.ci,
        p: 0.01,
        pAdjusted: 0.02,
        verdict: 'flips',
        equivalents: [],
        applies: true,
      };
    };
    const one = mk('1', 'SE', ['0', '1', '2'], [-0.03, -0.032, -0.028]);
    const four = mk('4', 'SE', ['0', '1', '2'], [-0.01, -0.013, -0.004]);
    const claim = {
      axis: 'loss',
      baseline: 'softmax',
      treatment: 'mems',
      label: 'MEMS > softmax',
      settings: [one, four],
      distinct: 2,
      tested: 2,
      sentence: '',
    };
    const factor = {
      name: 'margin',
      path: 'loss.margin',
      values: ['1', '4'],
      baseline: '4',
      when: { loss: 'mems' },
    };
    const [form, margin] = formAndMarginSentences(claim, [factor]);
    expect(form).toBe(
      `Logit form alone (MEMS > softmax at margin=1, the Euclidean softmax): block=SE ${fmtSigned(one.mean)} ${fmtInterval(one.ci)}, flips.`,
    );
    // m = 4 against m = 1 per seed: the difference of the two Δs, [0.02, 0.019, 0.024]
    const d = [0.02, 0.019, 0.024];
    const half = (T975[2]! * sd(d)) / Math.sqrt(3);
    expect(margin).toBe(
      `Margin alone (margin m against m = 1, same seeds, uncorrected p): m = 4: block=SE ${fmtSigned(avg(d))} ` +
        `[${fmtSigned(avg(d) - half)}, ${fmtSigned(avg(d) + half)}], p = ${fmtPNearAlpha(pOf(avg(d) / (sd(d) / Math.sqrt(3)), 2))}.`,
    );
    // without m = 1 cells there is nothing to say; a claim the margin does not apply to says nothing either
    expect(formAndMarginSentences({ ...claim, settings: [four] }, [factor])).toEqual([]);
    expect(formAndMarginSentences({ ...claim, axis: 'block', treatment: 'dase' }, [factor])).toEqual([]);
  });
});

describe('p-values near the level', () => {
  test('a significant p never prints as the level itself', () => {
    expect(fmtPNearAlpha(0.0497)).toBe('0.0497');
    expect(fmtPNearAlpha(0.05)).toBe('0.050');
    expect(fmtPNearAlpha(0.0512)).toBe('0.051');
    expect(fmtPNearAlpha(0.012)).toBe('0.012');
    expect(fmtPNearAlpha(null)).toBe('n/a');
  });
});
