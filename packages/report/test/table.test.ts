/**
 * The ablation table from a fixture run store, checked against numbers computed here directly from
 * ABLATION_MAP (mean, sample std, paired t, p) — not through the report's own stats module.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadRunStore } from '../src/store/read';
import { loadPaperReference } from '../src/store/reference';
import { buildTable, columnKey, parseBaseline, type AblationTable } from '../src/table/build';
import { HAMMING_METRIC, metricsFor, normalize } from '../src/table/normalize';
import { toCsv, toHtmlTable, toLatex, toMarkdown } from '../src/table/assemble';
import {
  ABLATION_MAP,
  ablationFixture,
  hostileFixture,
  tmpDir,
  writeExperiment,
  type FixtureCell,
} from './helpers/fixtures';
import { htmlEntitiesOutsideCode, injectedHtml } from './helpers/markdown-safety';
import { expectCompilesInArticles, PDFLATEX } from './helpers/latex';

jest.setTimeout(60_000);

let runs: string;
let table: AblationTable;

beforeAll(async () => {
  runs = path.join(tmpDir(), 'runs');
  await writeExperiment(runs, ablationFixture());
  await writeExperiment(runs, hostileFixture());
  table = buildTable(normalize(loadRunStore(runs, 'ablation').experiments[0]));
});

const row = (t: AblationTable, block: string, loss: string) => {
  const r = t.rows.find((x) => x.axes.block === block && x.axes.loss === loss);
  if (!r) throw new Error(`no row ${block}/${loss}`);
  return r;
};

/** direct formulas, written out again here */
const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + (x - avg(xs)) ** 2, 0) / (xs.length - 1));

describe('ablation table', () => {
  it('has the paper shape: rows block × loss, columns dataset × metric', () => {
    expect(table.rowAxes).toEqual(['block', 'loss']);
    expect(table.rows.map((r) => r.label)).toEqual([
      'none + softmax',
      'none + MEMS',
      'SE + softmax',
      'SE + MEMS',
      'DASE + softmax',
      'DASE + MEMS',
    ]);
    expect(table.columns.map((c) => c.key)).toEqual([
      'emoji::mAP@all',
      'emoji::P@200',
      'quickdraw::mAP@all',
      'quickdraw::P@200',
    ]);
  });

  it('computes mean ± sample std over finished seeds with n', () => {
    for (const dataset of ['emoji', 'quickdraw'])
      for (const block of ['none', 'se', 'dase'])
        for (const loss of ['softmax', 'mems']) {
          let vals: number[] = ABLATION_MAP[dataset][`${block}|${loss}`];
          // the failed and the running cell are left out
          if (
            dataset === 'emoji' &&
            ((block === 'none' && loss === 'softmax') || (block === 'dase' && loss === 'mems'))
          )
            vals = vals.slice(0, 2);
          const c = row(table, block, loss).cells[columnKey(dataset, 'mAP@all')];
          expect(c.n).toBe(vals.length);
          expect(c.mean).toBeCloseTo(avg(vals), 12);
          expect(c.std).toBeCloseTo(sd(vals), 12);
          const p = row(table, block, loss).cells[columnKey(dataset, 'P@200')];
          expect(p.mean).toBeCloseTo(avg(vals) - 0.05, 12);
        }
    // hand-computed: SE + softmax on emoji = 0.40, 0.42, 0.41 → 0.41 ± 0.01
    const base = row(table, 'se', 'softmax').cells[columnKey('emoji', 'mAP@all')];
    expect(base.mean).toBeCloseTo(0.41, 12);
    expect(base.std).toBeCloseTo(0.01, 12);
  });

  it('adds a Hamming mAP@all column (eval.json hamming) when finished cells have binary codes', () => {
    const exp = loadRunStore(runs, 'ablation').experiments[0];
    expect(metricsFor(exp)).toEqual(['mAP@all', 'P@200', HAMMING_METRIC]);
    const t = buildTable(normalize(exp, metricsFor(exp)));
    expect(t.columns.map((c) => c.key)).toContain(`emoji::${HAMMING_METRIC}`);
    // the fixture writes hamming mAP@all = mAP@all - 0.05 for every cell
    const vals = ABLATION_MAP.emoji['se|mems'];
    const c = row(t, 'se', 'mems').cells[columnKey('emoji', HAMMING_METRIC)];
    expect(c.n).toBe(vals.length);
    expect(c.mean).toBeCloseTo(avg(vals) - 0.05, 12);
    expect(c.std).toBeCloseTo(sd(vals), 12);
    expect(toMarkdown(t)).toContain(HAMMING_METRIC);
  });

  it('shows one Hamming column per code length when cells evaluated several (eval.json hammingByBits)', () => {
    const exp = loadRunStore(runs, 'ablation').experiments[0];
    for (const c of exp.cells) {
      if (!c.eval) continue;
      const map = c.eval['mAP@all'] as number;
      c.eval.hammingByBits = [128, 32, 64].map((bits) => ({ bits, 'mAP@all': map - bits / 1000 }));
    }
    const metrics = metricsFor(exp);
    expect(metrics).toEqual([
      'mAP@all',
      'P@200',
      'Hamming mAP@all (32 bits)',
      'Hamming mAP@all (64 bits)',
      'Hamming mAP@all (128 bits)',
    ]);
    const t = buildTable(normalize(exp, metrics));
    const vals = ABLATION_MAP.emoji['se|mems'];
    const c = row(t, 'se', 'mems').cells[columnKey('emoji', 'Hamming mAP@all (128 bits)')];
    expect(c.n).toBe(vals.length);
    expect(c.mean).toBeCloseTo(avg(vals) - 0.128, 12);
    expect(toMarkdown(t)).toContain('Hamming mAP@all (32 bits)');
  });

  it('marks the best mean per column, and every entry that ties it at the shown precision', () => {
    const shown = (v: number | null) => (v === null ? '' : v.toFixed(3));
    for (const col of table.columns) {
      const best = table.rows.filter((r) => r.cells[col.key].best).map((r) => r.label);
      const top = shown(Math.max(...table.rows.map((r) => r.cells[col.key].mean ?? -1)));
      expect(best).toEqual(
        table.rows.filter((r) => shown(r.cells[col.key].mean) === top).map((r) => r.label),
      );
    }
    expect(row(table, 'dase', 'mems').cells[columnKey('emoji', 'mAP@all')].best).toBe(true);
  });

  it('gives Δ against SE + softmax with a paired t-test matched by seed', () => {
    expect(row(table, 'se', 'softmax').isBaseline).toBe(true);
    expect(row(table, 'se', 'softmax').cells[columnKey('emoji', 'mAP@all')].delta).toBeUndefined();
    // SE + MEMS on emoji: d = [0.03, 0.05, 0.03]; scipy.stats.ttest_rel → t = 5.5, p = 0.03150400304181378
    const d = row(table, 'se', 'mems').cells[columnKey('emoji', 'mAP@all')].delta;
    expect(d?.n).toBe(3);
    expect(d?.meanDiff).toBeCloseTo(0.11 / 3, 12);
    expect(d?.t).toBeCloseTo(5.5, 9);
    expect(d?.p).toBeCloseTo(0.03150400304181378, 10);
    // DASE + MEMS on emoji: seed 2 is still running, so only seeds 0 and 1 pair up: d = [0.06, 0.05], df = 1
    const d2 = row(table, 'dase', 'mems').cells[columnKey('emoji', 'mAP@all')].delta;
    expect(d2?.seeds).toEqual(['0', '1']);
    expect(d2?.p).toBeCloseTo(1 - (2 * Math.atan(11)) / Math.PI, 10);
    // DASE + softmax on quickdraw: d = [0.01, −0.01, 0.06], df = 2 closed form
    const diffs = [0.01, -0.01, 0.06];
    const t = avg(diffs) / (sd(diffs) / Math.sqrt(3));
    const d3 = row(table, 'dase', 'softmax').cells[columnKey('quickdraw', 'mAP@all')].delta;
    expect(d3?.t).toBeCloseTo(t, 9);
    expect(d3?.p).toBeCloseTo(1 - Math.abs(t) / Math.sqrt(2 + t * t), 10);
  });

  it('counts failed and running cells per row', () => {
    expect(row(table, 'none', 'softmax').counts).toMatchObject({ finished: 5, failed: 1, running: 0 });
    expect(row(table, 'dase', 'mems').counts).toMatchObject({ finished: 5, running: 1 });
  });

  it('leaves out rows whose cells no run ever started, and says how many', async () => {
    const dir = path.join(tmpDir(), 'runs');
    const cell = (block: string, loss: string, seed: number, state: FixtureCell['state'], extra = {}) => ({
      axes: { dataset: 'emoji', block, loss, seed },
      state,
      map: 0.4,
      p200: 0.3,
      ...extra,
    });
    await writeExperiment(dir, {
      name: 'pieces',
      axes: { dataset: ['emoji'], block: ['se', 'dase'], loss: ['softmax', 'mems'], seed: [0, 1] },
      cells: [
        ...[0, 1].map((s) => cell('se', 'softmax', s, 'finished')),
        // a piece that no run has submitted: queued, attempt 0, never started
        ...[0, 1].map((s) => cell('se', 'mems', s, 'queued', { neverStarted: true })),
        // queued again after an attempt: part of a run, so its row stays
        cell('dase', 'softmax', 0, 'queued'),
        cell('dase', 'softmax', 1, 'queued', { neverStarted: true }),
      ],
    });
    const t = buildTable(normalize(loadRunStore(dir, 'pieces').experiments[0]));
    expect(t.rows.map((r) => r.label)).toEqual(['SE + softmax', 'DASE + softmax']);
    expect(t.rows[1]!.counts.queued).toBe(2);
    expect(t.notes).toContain(
      '1 row(s) left out: none of their 2 cells was ever started (queued, attempt 0, no startedAt, no Slurm job), so no run has submitted them yet; they appear once a run picks one up.',
    );
    expect(toMarkdown(t)).not.toContain('| SE | MEMS |');
  });

  it('takes another baseline and says n/a with fewer than two pairs', async () => {
    const t2 = buildTable(normalize(loadRunStore(runs, 'ablation').experiments[0]), {
      baseline: parseBaseline('block=none,loss=softmax'),
    });
    expect(row(t2, 'none', 'softmax').isBaseline).toBe(true);
    expect(row(t2, 'se', 'mems').cells[columnKey('emoji', 'mAP@all')].delta?.seeds).toEqual(['0', '1']);
    expect(() => parseBaseline('nonsense')).toThrow(/--baseline/);
    expect(() =>
      buildTable(normalize(loadRunStore(runs, 'ablation').experiments[0]), { baseline: { margin: '2' } }),
    ).toThrow(/"margin" is not a row axis/);

    // one seed per row → p is n/a
    const dir = path.join(tmpDir(), 'runs');
    await writeExperiment(dir, {
      name: 'single',
      axes: { block: ['se', 'dase'], loss: ['softmax'], seed: [0] },
      cells: [
        { axes: { block: 'se', loss: 'softmax', seed: 0 }, state: 'finished', map: 0.4, artifacts: false },
        { axes: { block: 'dase', loss: 'softmax', seed: 0 }, state: 'finished', map: 0.5, artifacts: false },
      ],
    });
    const t3 = buildTable(normalize(loadRunStore(dir, 'single').experiments[0]));
    const c = row(t3, 'dase', 'softmax').cells[columnKey('emoji', 'mAP@all')];
    expect(c.std).toBeNull();
    expect(c.delta?.p).toBeNull();
    expect(toMarkdown(t3)).toContain('+0.100 (p=n/a)');

    // a loss sweep with the block fixed (not a grid axis): the default baseline becomes softmax on that block
    await writeExperiment(dir, {
      name: 'losses',
      axes: { loss: ['softmax', 'mems', 'triplet'], seed: [0, 1] },
      cells: ['softmax', 'mems', 'triplet'].flatMap((loss, i) =>
        [0, 1].map((seed) => ({
          axes: { loss, seed },
          extraConfig: { model: { backbone: 'resnet-tiny', block: 'dase' } },
          state: 'finished' as const,
          map: 0.3 + 0.01 * i + 0.002 * seed,
          artifacts: false,
        })),
      ),
    });
    const t4 = buildTable(normalize(loadRunStore(dir, 'losses').experiments[0]));
    expect(t4.rows.map((r) => r.label)).toEqual(['DASE + softmax', 'DASE + MEMS', 'DASE + triplet']);
    expect(t4.baseline).toMatchObject({ found: true, label: 'softmax' });
    expect(row(t4, 'dase', 'softmax').isBaseline).toBe(true);
    expect(row(t4, 'dase', 'triplet').cells[columnKey('emoji', 'mAP@all')].delta?.meanDiff).toBeCloseTo(
      0.02,
      12,
    );
  });

  it('puts the paper numbers beside ours, with the table number, blank where not transcribed', () => {
    const file = path.join(tmpDir(), 'paper-reference.yaml');
    fs.writeFileSync(
      file,
      [
        'paper: { title: "DASE + MEMS" }',
        'results:',
        '  - { table: 3, dataset: Sketchy, method: DASE+MEMS, block: DASE, loss: MEMS, backbone: SE-ResNeXt-101, metric: mAP@all, value: 0.861, source: "arXiv v3", row: "DASE + MEMS", column: "mAP@all" }',
        '  - { table: "Table 3", dataset: emoji, block: SE, loss: softmax, metric: "P@200", value: 0.5 }',
        '  - { table: 2, dataset: Sketchy, method: DSH, metric: mAP@all, value: 0.711 }',
        '  - { table: 3, dataset: Sketchy, block: DASE, loss: MEMS, metric: P@200, value: 84.5 }',
        '  - { table: 3, dataset: Sketchy, block: SE, loss: softmax, metric: P@200, value: null }',
        'notes: ["a note"]',
      ].join('\n'),
    );
    const ref = loadPaperReference(file);
    expect(ref?.results).toHaveLength(5);
    const t = buildTable(normalize(loadRunStore(runs, 'ablation').experiments[0]), {
      reference: ref?.results,
    });
    expect(row(t, 'se', 'softmax').cells[columnKey('emoji', 'P@200')].paper).toMatchObject({
      value: 0.5,
      table: 'Table 3',
    });
    const sk = t.columns.find((c) => c.dataset === 'Sketchy' && c.metric === 'mAP@all');
    expect(sk?.paperOnly).toBe(true);
    expect(row(t, 'dase', 'mems').cells[columnKey('Sketchy', 'mAP@all')].paper?.value).toBe(0.861);
    expect(row(t, 'se', 'mems').cells[columnKey('Sketchy', 'mAP@all')].paper).toBeUndefined();
    expect(row(t, 'dase', 'mems').cells[columnKey('Sketchy', 'P@200')].paper).toMatchObject({
      value: 0.845,
      reported: 84.5,
    });
    expect(t.notes.join(' ')).toContain('percent');
    expect(t.paperUnmatched.map((r) => r.method)).toContain('DSH');
    const md = toMarkdown(t);
    expect(md).toContain('Sketchy mAP@all (paper)');
    expect(md).toContain('0.861 [Table 3]');
    expect(toCsv(t)).toContain('Sketchy,mAP@all,,,,,false,,,,,,0.861,3,arXiv v3');
    expect(loadPaperReference(path.join(tmpDir(), 'absent.yaml'))).toBeUndefined();
  });
});

describe('table formats', () => {
  it('Markdown: bold best, Δ with p, baseline marked, legend', () => {
    const md = toMarkdown(table);
    expect(md).toContain('| Block | Loss | emoji mAP@all | emoji Δ mAP@all (p) |');
    expect(md).toContain('| DASE | MEMS | **0.465 ± 0.007 (n=2)** | +0.055 (p=0.058) |');
    expect(md).toContain('| SE | softmax | 0.410 ± 0.010 (n=3) | (baseline) |');
    expect(md).toContain('| SE | MEMS | 0.447 ± 0.021 (n=3) | +0.037 (p=0.032) |');
    expect(md).toContain('5 finished, 1 failed');
    expect(md).toContain('two-sided paired t-test');
  });

  it('LaTeX: booktabs, datasets stacked, Δ and p in small type under each mean', () => {
    const tex = toLatex(table);
    for (const s of [
      '\\toprule',
      '\\midrule',
      '\\bottomrule',
      '\\begin{tabular}{@{}llrr@{}}',
      'Block & Loss & mAP@all & P@200 \\\\',
      '\\multicolumn{4}{@{}l}{\\textit{emoji}} \\\\',
      '\\multicolumn{4}{@{}l}{\\textit{quickdraw}} \\\\',
      'DASE & MEMS & \\textbf{0.465} $\\pm$ 0.007$^{2}$',
      '{\\scriptsize $+0.037$ ($p=0.032$)}',
      '{\\scriptsize baseline}',
    ])
      expect(tex).toContain(s);
    // 1 header + per dataset: 1 name row + 6 rows x 2 lines
    expect(tex.match(/\\\\(\[2pt\])?$/gm)?.length).toBe(1 + 2 * (1 + 6 * 2));
    expect(tex).not.toContain('resizebox');
  });

  (PDFLATEX ? it : it.skip)(
    'LaTeX: compiles in a one- and a two-column article without an overfull box (skipped without pdflatex)',
    () => {
      const dir = tmpDir();
      const exp = loadRunStore(runs, 'ablation').experiments[0];
      // the widest real case: three metrics (Hamming too) with Δ, two datasets, and paper numbers
      const refFile = path.join(dir, 'ref.yaml');
      fs.writeFileSync(
        refFile,
        [
          'results:',
          '  - { table: 3, dataset: emoji, block: DASE, loss: MEMS, metric: mAP@all, value: 0.861 }',
          '  - { table: 3, dataset: emoji, block: SE, loss: softmax, metric: "P@200", value: 0.5 }',
        ].join('\n'),
      );
      const wide = buildTable(normalize(exp, metricsFor(exp)), {
        reference: loadPaperReference(refFile)?.results,
      });
      const hostile = buildTable(normalize(loadRunStore(runs, 'xss<script>alert(1)').experiments[0]), {
        baseline: { loss: 'softmax' },
      });
      fs.writeFileSync(path.join(dir, 'a.tex'), toLatex(table));
      fs.writeFileSync(path.join(dir, 'b.tex'), toLatex(hostile));
      fs.writeFileSync(path.join(dir, 'c.tex'), toLatex(wide));
      expect(fs.readFileSync(path.join(dir, 'c.tex'), 'utf8')).not.toContain('resizebox');
      expectCompilesInArticles(dir, ['a.tex', 'b.tex', 'c.tex']);
    },
  );

  it('CSV: one tidy line per row × dataset × metric, full precision', () => {
    const lines = toCsv(table).trim().split('\n');
    expect(lines).toHaveLength(1 + 6 * 4);
    const header = lines[0].split(',');
    const line = lines.find((l) => l.startsWith('ablation,se,mems,emoji,mAP@all,'));
    const rec = Object.fromEntries(header.map((h, i) => [h, line?.split(',')[i]]));
    expect(Number(rec.mean)).toBeCloseTo(avg([0.43, 0.47, 0.44]), 14);
    expect(Number(rec.p)).toBeCloseTo(0.03150400304181378, 12);
    expect(rec.seeds).toBe('0;1;2');
    expect(rec.values).toBe('0.43;0.47;0.44');
  });

  it('HTML: escapes run-store strings', () => {
    const t = buildTable(normalize(loadRunStore(runs, 'xss<script>alert(1)').experiments[0]), {
      baseline: { loss: 'softmax' },
    });
    const out = toHtmlTable(t).value;
    expect(out).not.toContain('<img');
    expect(out).toContain('&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;');
    const md = toMarkdown(t);
    // Markdown escapes `<` before a letter with a backslash (no entity): literal text, no tag when rendered
    expect(md).not.toMatch(/(?<!\\)<(img|script)/);
    expect(injectedHtml(md)).toEqual([]);
    expect(htmlEntitiesOutsideCode(md)).toEqual([]);
    expect(toLatex(t)).toContain('\\textless{}img');
  });
});
