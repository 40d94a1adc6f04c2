/**
 * Every chart spec the report and the dashboard build is valid against the Vega-Lite JSON schema (ajv),
 * compiles with vega-lite without warnings, and renders headless to SVG and PNG.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import sharp from 'sharp';
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';
import { renderPng, renderSvg, svgToPng } from '../src/charts/render';
import {
  distanceHistogramSpec,
  mapByCellSpec,
  MAX_LINES_PER_PANEL,
  pcaSpec,
  prCurveSpec,
  trainingCurvesSpec,
} from '../src/charts/specs';
import {
  downsample,
  histogramBins,
  mapChartData,
  meanBy,
  rebin,
  shortRowLabels,
  sumHistograms,
} from '../src/charts/data';
import { CHARTS } from '../src/charts/registry';
import { BLOCK_PALETTE, CATEGORY_COLORS, NO_BLOCK_COLOR } from '../src/charts/theme';
import { displayValue } from '../src/table/normalize';
import { buildReportModel } from '../src/view/report-model';
import { experimentCharts, experimentSpecs, runSpecs } from '../src/charts/registry';
import { loadGridRows, retrievalGridSvg } from '../src/retrieval';
import { loadRunStore, readRetrieval } from '../src/store/read';
import { makeView } from '../src/view/experiment-view';
import { ablationFixture, tmpDir, writeExperiment } from './helpers/fixtures';

jest.setTimeout(120_000);

const schema = JSON.parse(fs.readFileSync(require.resolve('vega-lite/build/vega-lite-schema.json'), 'utf8'));
const ajv = new Ajv({ strict: false, allowUnionTypes: true, validateFormats: false });
const validate = ajv.compile(schema);

const specs: Record<string, TopLevelSpec> = {};
let runsDir: string;

beforeAll(async () => {
  runsDir = path.join(tmpDir(), 'runs');
  await writeExperiment(runsDir, ablationFixture());
  const exp = loadRunStore(runsDir).experiments[0];
  const view = makeView(exp, tmpDir(), { referenceFile: 'none.yaml' });
  for (const c of experimentCharts(view)) specs[`report:${c.name}`] = c.spec;
  for (const [k, s] of Object.entries(experimentSpecs(view))) specs[`dashboard:${k}`] = s;
  const finished = exp.cells.find((c) => c.status.state === 'finished');
  const running = exp.cells.find((c) => c.status.state === 'running');
  for (const [k, s] of Object.entries(runSpecs(finished!, 'finished run'))) specs[`run:${k}`] = s;
  for (const [k, s] of Object.entries(runSpecs(running!, 'running run'))) specs[`running:${k}`] = s;
  // edge cases: empty data
  specs['empty:curves'] = trainingCurvesSpec([], []);
  specs['empty:pr'] = prCurveSpec([]);
  specs['empty:map'] = mapByCellSpec([], []);
  specs['empty:hist'] = distanceHistogramSpec([]);
  specs['empty:pca'] = pcaSpec([]);
});

describe('chart specs', () => {
  it('builds every chart kind', () => {
    const names = Object.keys(specs);
    for (const k of [
      'report:map-by-cell',
      'report:training-curves-emoji',
      'report:pr-emoji',
      'report:distances-emoji',
      'dashboard:map',
      'run:curves',
      'run:pr',
      'run:distances',
      'run:pca',
      'running:curves',
    ])
      expect(names).toContain(k);
    expect(names.some((n) => n.startsWith('report:pca-'))).toBe(true);
    // a running cell has no eval.json yet: curves (loss, quick metrics; lr and images/s) only
    expect(names.filter((n) => n.startsWith('running:'))).toEqual(['running:curves', 'running:throughput']);
  });

  it('validates against the Vega-Lite JSON schema', () => {
    const bad: string[] = [];
    for (const [name, spec] of Object.entries(specs)) {
      if (!validate(spec)) bad.push(`${name}: ${ajv.errorsText(validate.errors?.slice(0, 3))}`);
    }
    expect(bad).toEqual([]);
    // and the validator does reject a broken spec
    expect(validate({ mark: 'nonsense', data: { values: [] } })).toBe(false);
    expect(validate({ ...specs['run:pr'], encoding: { x: { field: 'a', type: 'wrong' } } })).toBe(false);
  });

  it('compiles with vega-lite without warnings', () => {
    const warnings: string[] = [];
    const logger = {
      level: () => logger,
      warn: (...a: unknown[]) => {
        warnings.push(a.join(' '));
        return logger;
      },
      info: () => logger,
      debug: () => logger,
      error: (...a: unknown[]) => {
        throw new Error(a.join(' '));
      },
    };
    for (const [name, spec] of Object.entries(specs)) {
      if (name.startsWith('empty:')) continue;
      const out = compile(spec, { logger: logger as never });
      expect(out.spec).toBeTruthy();
    }
    expect(warnings).toEqual([]);
  });

  it('renders to SVG and PNG headless', async () => {
    const svg = await renderSvg(specs['report:map-by-cell']);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('DASE + MEMS');
    expect(svg).toContain('mAP@all');
    const png = await svgToPng(svg, 1);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const meta = await sharp(png).metadata();
    expect(meta.width).toBeGreaterThan(400);
    expect(meta.height).toBeGreaterThan(300);
    // every spec renders
    for (const [name, spec] of Object.entries(specs)) {
      if (name.startsWith('empty:')) continue;
      const s = await renderSvg(spec);
      expect(s).toMatch(/^<svg[^>]+width="\d+"/);
    }
    const hist = await renderPng(specs['run:distances'], 1);
    expect((await sharp(hist).metadata()).format).toBe('png');
  });

  it('renders the retrieval grid with wrong results marked', async () => {
    const exp = loadRunStore(runsDir).experiments[0];
    const cell = exp.cells.find((c) => c.hasRetrieval)!;
    const r = readRetrieval(cell)!;
    const rows = loadGridRows(cell.dir, r);
    expect(rows).toHaveLength(3);
    expect(rows[0].query.href).toMatch(/^data:image\/png;base64,/);
    const svg = retrievalGridSvg(rows, { title: 'examples <b>', k: 10 });
    const wrong = r.queries.flatMap((q) => q.results.slice(0, 10)).filter((x) => !x.correct).length;
    expect(svg.match(/✗/g)?.length).toBe(wrong);
    expect(svg).toContain('examples &lt;b&gt;');
    const png = await svgToPng(svg, 1);
    const meta = await sharp(png).metadata();
    expect(meta.width).toBeGreaterThan(900);
  });
});

describe('chart data helpers', () => {
  it('downsamples by bucket means and averages by group', () => {
    const pts = Array.from({ length: 1000 }, (_, i) => ({ run: 'a', step: i + 1, loss: i % 2 }));
    const d = downsample(pts, 100);
    expect(d).toHaveLength(100);
    expect(d[0]).toEqual({ run: 'a', step: 10, loss: 0.5 });
    expect(
      meanBy(
        [
          { g: 'x', v: 1 },
          { g: 'x', v: 3 },
          { g: 'y', v: 5 },
        ],
        ['g'],
        'v',
      ),
    ).toEqual([
      { g: 'x', v: 2 },
      { g: 'y', v: 5 },
    ]);
  });

  it('turns histogram counts into fractions per kind', () => {
    const bins = histogramBins('r', {
      distanceStats: { histogram: { edges: [0, 1, 2], intra: [3, 1], inter: [0, 10] } },
    });
    expect(bins).toEqual([
      { run: 'r', kind: 'intra-class', x0: 0, x1: 1, fraction: 0.75 },
      { run: 'r', kind: 'intra-class', x0: 1, x1: 2, fraction: 0.25 },
      { run: 'r', kind: 'inter-class', x0: 0, x1: 1, fraction: 0 },
      { run: 'r', kind: 'inter-class', x0: 1, x1: 2, fraction: 1 },
    ]);
  });

  it('pools histograms of several seeds, re-binning different edges and keeping totals', () => {
    const a = { edges: [0, 1, 2], intra: [3, 1], inter: [0, 10] };
    const b = { edges: [0, 1, 2], intra: [1, 1], inter: [2, 2] };
    const same = sumHistograms([
      { distanceStats: { histogram: a } },
      { distanceStats: { histogram: b } },
      undefined,
    ]);
    expect(same?.distanceStats?.histogram).toEqual({ edges: [0, 1, 2], intra: [4, 2], inter: [2, 12] });
    expect(rebin([0, 2], [4], [0, 1, 2, 3])).toEqual([2, 2, 0]);
    const c = { edges: [1, 2, 3, 4], intra: [1, 2, 3], inter: [6, 0, 0] };
    const mixed = sumHistograms([{ distanceStats: { histogram: a } }, { distanceStats: { histogram: c } }])
      ?.distanceStats?.histogram;
    expect(mixed?.edges).toEqual([0, 4 / 3, 8 / 3, 4]);
    const total = (xs: number[] | undefined) => (xs ?? []).reduce((s, x) => s + x, 0);
    expect(total(mixed?.intra)).toBeCloseTo(4 + 6, 12);
    expect(total(mixed?.inter)).toBeCloseTo(10 + 6, 12);
  });
});

/** The colour range a map-by-cell spec gives each block label. */
function blockColours(spec: TopLevelSpec): Record<string, string> {
  const layer = (
    spec as { spec: { layer: { encoding: { color?: { scale: { domain: string[]; range: string[] } } } }[] } }
  ).spec.layer[0];
  const scale = layer.encoding.color!.scale;
  return Object.fromEntries(scale.domain.map((b, i) => [b, scale.range[i]]));
}

describe('block labels and colours come from the data', () => {
  it('keeps SE and DASE as before: labels upper-cased, grey / blue / orange', () => {
    expect(['none', 'se', 'dase'].map((b) => displayValue('block', b))).toEqual(['none', 'SE', 'DASE']);
    expect(['softmax', 'mems', 'cosface'].map((l) => displayValue('loss', l))).toEqual([
      'softmax',
      'MEMS',
      'CosFace',
    ]);
    expect(blockColours(specs['report:map-by-cell'])).toEqual({
      none: '#9ca3af',
      SE: '#3b82f6',
      DASE: '#f97316',
    });
    expect(blockColours(specs['dashboard:map'])).toEqual(blockColours(specs['report:map-by-cell']));
  });

  it('labels and colours a new block by its value and its place on the axis, with no report edit', async () => {
    const fixture = ablationFixture('cbam-grid');
    fixture.axes.block = ['none', 'se', 'dase', 'cbam'];
    fixture.cells.push(
      ...fixture.cells
        .filter((c) => c.axes.block === 'se')
        .map((c) => ({ ...c, axes: { ...c.axes, block: 'cbam' }, map: (c.map ?? 0) + 0.01 })),
    );
    const dir = path.join(tmpDir(), 'runs');
    await writeExperiment(dir, fixture);
    const view = makeView(loadRunStore(dir).experiments[0], tmpDir(), { referenceFile: 'none.yaml' });
    expect(mapChartData(view.table).blocks).toEqual(['none', 'SE', 'DASE', 'CBAM']);
    expect(view.table.rows.some((r) => r.label.startsWith('CBAM'))).toBe(true);
    const map = experimentCharts(view).find((c) => c.name === 'map-by-cell')!;
    expect(blockColours(map.spec)).toEqual({
      none: NO_BLOCK_COLOR,
      SE: BLOCK_PALETTE[0],
      DASE: BLOCK_PALETTE[1],
      CBAM: BLOCK_PALETTE[2],
    });
  });
});

describe('charts readable at any number of cells', () => {
  /** the ablation grid crossed with a width axis (3 values) and a margin axis that is "n/a" for softmax */
  async function manyRows() {
    const fixture = ablationFixture('many-rows');
    fixture.axes.width = [8, 16, 32];
    fixture.axes.margin = [2, 'n/a'];
    fixture.cells = fixture.cells.flatMap((c) =>
      [8, 16, 32].map((width) => ({
        ...c,
        axes: { ...c.axes, width, margin: c.axes.loss === 'mems' ? 2 : 'n/a' },
      })),
    );
    const dir = path.join(tmpDir(), 'runs');
    await writeExperiment(dir, fixture);
    return makeView(loadRunStore(dir).experiments[0], tmpDir(), { referenceFile: 'none.yaml' });
  }

  it('labels rows by block, loss and the settings off the usual one, whole and distinct', async () => {
    const view = await manyRows();
    const labels = [...shortRowLabels(view.table).values()];
    expect(labels).toHaveLength(view.table.rows.length);
    expect(new Set(labels).size).toBe(labels.length);
    for (const l of labels) expect(l).not.toMatch(/n\/a|margin=2/);
    expect(labels).toContain('SE + softmax + width=32');
    const map = experimentCharts(view).find((c) => c.name === 'map-by-cell')!.spec as unknown as {
      spec: { layer: { encoding: { y: { axis: { labelLimit: number } } } }[] };
      data: { values: { row: string }[] };
    };
    expect(map.spec.layer[0]!.encoding.y.axis.labelLimit).toBe(0); // never cut off
    expect(new Set(map.data.values.map((v) => v.row))).toEqual(new Set(labels));
  });

  it('draws training curves of many cells as small multiples: a row per cell, one line per panel', async () => {
    const view = await manyRows();
    const curves = experimentCharts(view).find((c) => c.name === 'training-curves-emoji')!.spec;
    expect(validate(curves)).toBe(true);
    expect(compile(curves).spec).toBeTruthy();
    const plain = curves as unknown as {
      vconcat: {
        title: { text: string };
        hconcat: { data: { values: { run: string }[] }; encoding: object }[];
      }[];
    };
    const rows = view.table.rows.filter((r) => r.counts.finished > 0);
    expect(rows.length).toBeGreaterThan(MAX_LINES_PER_PANEL);
    expect(plain.vconcat.map((r) => r.title.text)).toEqual(
      rows.map((r) => shortRowLabels(view.table).get(r.key)),
    );
    for (const row of plain.vconcat)
      for (const panel of row.hconcat) {
        expect(new Set(panel.data.values.map((v) => v.run))).toEqual(new Set([row.title.text]));
        expect(panel.encoding).not.toHaveProperty('color'); // one series: a fixed colour, no legend
      }
    // precision–recall likewise: a panel per cell, one line each, headers naming the cells
    const pr = experimentCharts(view).find((c) => c.name === 'pr-emoji')!.spec as unknown as {
      facet: { field: string; sort: string[] };
      spec: { encoding: object };
    };
    expect(validate(pr)).toBe(true);
    expect(pr.facet.field).toBe('run');
    expect(pr.facet.sort).toEqual(rows.map((r) => shortRowLabels(view.table).get(r.key)));
    expect(pr.spec.encoding).not.toHaveProperty('color');
    // a few cells keep one panel with a colour each (no colour reused: at most MAX_LINES_PER_PANEL ≤ 10)
    expect(MAX_LINES_PER_PANEL).toBeLessThanOrEqual(CATEGORY_COLORS.length);
    expect(specs['report:training-curves-emoji']).toHaveProperty('hconcat');
  });
});

describe('the chart registry', () => {
  it('has unique ids and slots, and every record appears somewhere', () => {
    expect(new Set(CHARTS.map((r) => r.id)).size).toBe(CHARTS.length);
    expect(new Set(CHARTS.map((r) => r.slot)).size).toBe(CHARTS.length);
    for (const r of CHARTS)
      expect(Boolean(r.report || r.reportPerDataset || r.experiment || r.compare || r.run)).toBe(true);
  });

  it('the view model holds the charts of every page, composed once from the registry', () => {
    const model = buildReportModel(loadRunStore(runsDir), {
      out: tmpDir(),
      single: false,
      referenceFile: 'none.yaml',
    });
    const [m] = model.experiments;
    expect(m.charts.report.map((c) => c.name)).toEqual(
      Object.keys(specs)
        .filter((k) => k.startsWith('report:'))
        .map((k) => k.slice('report:'.length)),
    );
    expect(Object.keys(m.charts.experiment)).toEqual(['map']); // no sensitivity block: no forest
    expect(Object.keys(m.charts.compare)).toEqual(['curves', 'throughput', 'pr', 'distances']);
    const finished = m.exp.cells.find((c) => c.status.state === 'finished')!;
    expect(Object.keys(m.charts.run.get(finished.cellId)!)).toEqual([
      'curves',
      'throughput',
      'pr',
      'distances',
      'pca',
    ]);
    // the run page's PCA and the report's PCA of a representative cell are one computation
    const pcaCell = m.charts.report.find((c) => c.name.startsWith('pca-'))!.name.slice('pca-'.length);
    const cell = m.exp.cells.find((c) => c.cellId === pcaCell)!;
    expect(m.projection(cell)).toBe(m.projection(cell));
  });
});
