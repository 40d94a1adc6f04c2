/** The run store reader: tolerant of new fields and missing optional files, strict about broken ones. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ReportInputError } from '../src/messages';
import { loadRunStore, readEmbeddings, readMetrics } from '../src/store/read';
import { loadPaperReference } from '../src/store/reference';
import { ablationFixture, tmpDir, writeExperiment } from './helpers/fixtures';

jest.setTimeout(60_000);

async function store(): Promise<{ runs: string; cellDir: (i: number) => string }> {
  const runs = path.join(tmpDir(), 'runs');
  const exp = ablationFixture();
  exp.cells = exp.cells.slice(0, 4);
  exp.phantomCells = ['0123456789ab'];
  await writeExperiment(runs, exp);
  const meta = JSON.parse(fs.readFileSync(path.join(runs, 'ablation', 'experiment.json'), 'utf8'));
  return { runs, cellDir: (i) => path.join(runs, 'ablation', meta.cells[i]) };
}

function expectInputError(fn: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ReportInputError);
  const msg = (err as Error).message;
  expect(msg).not.toContain('\n');
  expect(msg).toMatch(re);
}

describe('run store reader', () => {
  it('reads every documented file and keeps unknown fields', async () => {
    const { runs } = await store();
    const s = loadRunStore(runs, 'ablation');
    const cells = s.experiments[0].cells;
    expect(cells).toHaveLength(5);
    const c = cells[0];
    expect(c.config?.axes).toEqual({ dataset: 'emoji', block: 'none', loss: 'softmax', seed: 0 });
    expect(c.status.state).toBe('finished');
    expect((c.status as Record<string, unknown>).futureField).toEqual({ tolerated: true });
    expect((c.eval as Record<string, unknown>).unknownFutureMetric).toBe(42);
    expect(c.metrics.filter((m) => m.kind === 'epoch')).toHaveLength(6);
    expect(c.hasEmbeddings && c.hasRetrieval).toBe(true);
    // a cell listed in experiment.json but not written yet is shown as queued, with a warning
    expect(cells[4].status.state).toBe('queued');
    expect(cells[4].config).toBeUndefined();
    expect(s.warnings.join('\n')).toContain('0123456789ab');
  });

  it('tolerates missing optional files', async () => {
    const { runs, cellDir } = await store();
    for (const f of ['embeddings.json', 'retrieval.json', 'metrics.jsonl'])
      fs.rmSync(path.join(cellDir(0), f));
    fs.rmSync(path.join(cellDir(1), 'status.json'));
    fs.rmSync(path.join(cellDir(3), 'eval.json'));
    const s = loadRunStore(runs);
    const [c0, c1, , c3] = s.experiments[0].cells;
    expect(c0.metrics).toEqual([]);
    expect(c0.hasEmbeddings).toBe(false);
    expect(c1.status.state).toBe('queued');
    expect(c3.eval).toBeUndefined();
    expect(s.warnings.join('\n')).toMatch(/finished" but eval.json is missing/);
  });

  it('skips a cut-off last line of metrics.jsonl but not a broken line before it', () => {
    const f = path.join(tmpDir(), 'metrics.jsonl');
    fs.writeFileSync(
      f,
      '{"kind":"step","step":1,"loss":2}\n{"kind":"epoch","epoch":1,"mAP@all":0.1}\n{"kind":"st',
    );
    expect(readMetrics(f)).toHaveLength(2);
    fs.writeFileSync(f, '{"kind":"step","step":1,"loss":2}\n{"kind":\n{"kind":"epoch","epoch":1}\n');
    expectInputError(() => readMetrics(f), /metrics\.jsonl: line 2 is not valid JSON/);
    fs.writeFileSync(f, '{"kind":"step","step":"one"}\n');
    expectInputError(() => readMetrics(f), /metrics\.jsonl:1: field "step": expected number, got "one"/);
  });

  it('names the file and field of a bad value', async () => {
    const { runs, cellDir } = await store();
    const evalFile = path.join(cellDir(0), 'eval.json');
    const ev = JSON.parse(fs.readFileSync(evalFile, 'utf8'));
    fs.writeFileSync(evalFile, JSON.stringify({ ...ev, 'mAP@all': 'high' }));
    expectInputError(() => loadRunStore(runs), /eval\.json: field "mAP@all": expected number, got "high"/);
    fs.writeFileSync(evalFile, JSON.stringify({ ...ev, pr: { recall: [0, 1], precision: [1] } }));
    expectInputError(
      () => loadRunStore(runs),
      /eval\.json: field "pr": recall and precision differ in length/,
    );
    fs.writeFileSync(
      evalFile,
      JSON.stringify({
        ...ev,
        distanceStats: { histogram: { edges: [0, 1], intra: [1, 2], inter: [1, 2] } },
      }),
    );
    expectInputError(
      () => loadRunStore(runs),
      /field "distanceStats\.histogram": edges must have one more entry/,
    );
    fs.writeFileSync(evalFile, '{ not json');
    expectInputError(() => loadRunStore(runs), /eval\.json: invalid JSON/);
    fs.writeFileSync(evalFile, JSON.stringify(ev));

    const statusFile = path.join(cellDir(1), 'status.json');
    fs.writeFileSync(statusFile, JSON.stringify({ attempt: 1 }));
    expectInputError(() => loadRunStore(runs), /status\.json: field "state": expected string, got missing/);
    fs.rmSync(statusFile);

    const embFile = path.join(cellDir(3), 'embeddings.json');
    const emb = JSON.parse(fs.readFileSync(embFile, 'utf8'));
    emb.rows[3].vector = [1, 2];
    fs.writeFileSync(embFile, JSON.stringify(emb));

    const cell = loadRunStore(runs).experiments[0].cells[3];
    expectInputError(
      () => readEmbeddings(cell),
      /embeddings\.json: field "rows\[3\]\.vector": has 2 values, dim is 8/,
    );

    const metaFile = path.join(runs, 'ablation', 'experiment.json');
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    fs.writeFileSync(metaFile, JSON.stringify({ ...meta, formatVersion: 2 }));
    expectInputError(
      () => loadRunStore(runs),
      /experiment\.json: field "formatVersion": unsupported run store format 2/,
    );
  });

  it('explains a missing runs dir or experiment', async () => {
    const { runs } = await store();
    expectInputError(() => loadRunStore(path.join(runs, 'nope')), /runs directory not found/);
    expectInputError(() => loadRunStore(runs, 'other'), /experiment "other" not found \(known: ablation\)/);
    const empty = tmpDir();
    expectInputError(() => loadRunStore(empty), /no experiments found/);
  });

  it('reads the paper reference, tolerating its absence and extra sections', () => {
    const f = path.join(tmpDir(), 'ref.yaml');
    fs.writeFileSync(f, 'paper:\n  title: T\nresults: []\nprotocol:\n  - fact: x\n');
    expect(loadPaperReference(f)).toEqual({ file: f, title: 'T', results: [] });
    fs.writeFileSync(f, 'results:\n  - { dataset: Sketchy, metric: mAP@all, value: "high" }\n');
    expectInputError(
      () => loadPaperReference(f),
      /ref\.yaml: field "results\[0\]\.value": expected number, got "high"/,
    );
    fs.writeFileSync(f, 'results: [\n');
    expectInputError(() => loadPaperReference(f), /ref\.yaml: invalid YAML/);
  });
});
