/**
 * The report over a run store written by the real trainer, not by the report's own fixture writer: a
 * two-cell grid (SE, DASE; 4-class 32 px emoji, resnet-tiny of width 8, one epoch on 96 rows) trained
 * by runAblation, then the report's reader, table and build over it. Each table row must carry its
 * cell's eval.json numbers, so a change of the run store's format on either side fails here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runAblation } from '@sbir/trainer';
import { buildReport } from '../src/report';
import { loadRunStore } from '../src/store/read';
import { buildTable, columnKey } from '../src/table/build';
import { metricsFor, normalize } from '../src/table/normalize';
import { readJson, tmpDir, writeTinyExperiment } from '../../trainer/test/fixtures';

jest.setTimeout(180_000);

interface Eval {
  'mAP@all': number;
  'P@200': number;
  hamming?: { 'mAP@all': number } | null;
}

let root: string;
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

test('the report reads a store trained by runAblation: one row per cell, its eval.json numbers', async () => {
  root = tmpDir('report-real');
  const name = 'real-store';
  const file = writeTinyExperiment(root, {
    name,
    grid: '  block: [se, dase]',
    epochs: 1,
    train: 'limitRows: 96',
  });
  const runs = path.join(root, 'runs');
  const log: string[] = [];
  const result = await runAblation({
    experiment: file,
    runsDir: runs,
    workers: 1,
    threads: 1,
    trackingUri: null,
    write: (l) => log.push(l),
  });
  expect({ exitCode: result.exitCode, log: log.slice(-20) }).toMatchObject({ exitCode: 0 });

  const meta = readJson<{ cells: string[] }>(path.join(runs, name, 'experiment.json'));
  expect(meta.cells).toHaveLength(2);
  const store = loadRunStore(runs, name);
  expect(store.warnings).toEqual([]);
  const exp = store.experiments[0]!;
  expect(exp.cells.map((c) => c.status.state)).toEqual(['finished', 'finished']);

  const table = buildTable(normalize(exp, metricsFor(exp)));
  expect(table.datasets).toEqual(['emoji']);
  expect(table.rows).toHaveLength(2);
  for (const id of meta.cells) {
    const cellDir = path.join(runs, name, id);
    const block = readJson<{ model: { block: string } }>(path.join(cellDir, 'config.json')).model.block;
    const evalJson = readJson<Eval>(path.join(cellDir, 'eval.json'));
    const row = table.rows.find((r) => r.axes.block === block);
    expect(row).toBeDefined();
    expect(row!.counts).toMatchObject({ finished: 1 });
    for (const metric of ['mAP@all', 'P@200'] as const) {
      const cell = row!.cells[columnKey('emoji', metric)]!;
      expect(typeof evalJson[metric]).toBe('number');
      expect({ metric, n: cell.n, mean: cell.mean }).toEqual({ metric, n: 1, mean: evalJson[metric] });
    }
  }

  // and the whole build over it: the CSV holds each cell's numbers exactly, the Markdown rounded
  const out = path.join(root, 'report');
  const built = await buildReport({
    runsDir: runs,
    experiment: name,
    out,
    png: false,
    dashboard: false,
    referenceFile: path.join(root, 'none.yaml'),
  });
  expect(built.warnings).toEqual([]);
  const csv = fs.readFileSync(path.join(out, 'ablation.csv'), 'utf8').split('\n');
  const md = fs.readFileSync(path.join(out, 'ablation.md'), 'utf8');
  for (const id of meta.cells) {
    const cellDir = path.join(runs, name, id);
    const block = readJson<{ model: { block: string } }>(path.join(cellDir, 'config.json')).model.block;
    const value = readJson<Eval>(path.join(cellDir, 'eval.json'))['mAP@all'];
    expect(
      csv.filter((l) => l.startsWith(`${name},${block},softmax,emoji,mAP@all,1,${value},`)),
    ).toHaveLength(1);
    expect(md).toMatch(new RegExp(`\\| (\\*\\*)?${value.toFixed(3).replace('.', '\\.')} `));
  }
});
