/**
 * Issue 10's end-to-end path as a user runs it: a PyTorch SE-ResNeXt-50 state dict (random weights,
 * saved in the pre-1.6 format Cadene's published files use) -> `model:import` -> a tiny SE vs DASE grid
 * that fine-tunes 20 steps from it (`model.pretrained: {weightsRoot}/...`) -> config.json records what
 * was loaded and what kept its initialisation (the authors' rule: the DASE fc2 of stages 1-3).
 */
import { spawnSync } from 'node:child_process';
import { venvPython } from '@sbir/core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childEnv, readJson, REPO_ROOT, tmpDir } from './fixtures';

jest.setTimeout(900_000);

const PY = venvPython(); // PyTorch writes the published-style .pth (npm run py:setup)

interface PretrainedLoad {
  notLoaded: { name: string }[];
  source: { sha256: string };
}
interface CellConfigJson {
  model: { block: string };
  resolved: { model: { pretrainedLoad: PretrainedLoad } };
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, env: childEnv(), encoding: 'utf8' });
  const out = `${r.stdout}\n${r.stderr}`;
  expect({ cmd: [cmd, ...args].join(' '), status: r.status, tail: out.slice(-2000) }).toMatchObject({
    status: 0,
  });
  return out;
}

const EXPERIMENT = `name: finetune-e2e
base:
  dataset:
    name: emoji-small
    dir: '{dataRoot}/emoji-32-small'
    prepare: { dataset: emoji, size: 32, maxCategories: 4 }
  model:
    backbone: se_resnext50_32x4d
    pretrained: '{weightsRoot}/se_resnext50_32x4d'
    block: se
    inputSize: 32
    embeddingDim: 32
  loss: mems
  train: { steps: 20, stepsPerEpoch: 10, batchSize: 8, augment: authors, lr: 0.0001, logEverySteps: 5 }
  eval: { epochGallery: 60, epochQueries: 20 }
grid:
  block: [se, dase]
`;

test('import a PyTorch SE-ResNeXt-50, fine-tune SE and DASE 20 steps from it', () => {
  const dir = tmpDir('finetune');
  run(PY, ['packages/model/test/py/import_parity.py', dir, 'se_resnext50_32x4d', '32', '--legacy']);
  const weights = path.join(dir, 'weights');
  run(process.execPath, [
    require.resolve('tsx/cli', { paths: [REPO_ROOT] }),
    'packages/model/src/cli.ts',
    'import',
    '--from',
    path.join(dir, 'se_resnext50_32x4d.pth'),
    '--arch',
    'se_resnext50_32x4d',
    '--out',
    path.join(weights, 'se_resnext50_32x4d'),
  ]);
  const file = path.join(dir, 'finetune.yaml');
  fs.writeFileSync(file, EXPERIMENT);
  const runs = path.join(dir, 'runs');
  run(process.execPath, [
    require.resolve('tsx/cli', { paths: [REPO_ROOT] }),
    'tools/ablation/main.ts',
    '--experiment',
    file,
    '--runs-dir',
    runs,
    '--data-root',
    path.join(dir, 'data'),
    '--weights-root',
    weights,
    '--out',
    path.join(dir, 'report'),
  ]);
  const exp = path.join(runs, 'finetune-e2e');
  const cells = readJson<{ cells: string[] }>(path.join(exp, 'experiment.json')).cells;
  expect(cells).toHaveLength(2);
  const byBlock = new Map<string, CellConfigJson>();
  for (const id of cells) {
    expect(readJson<{ state: string; step: number }>(path.join(exp, id, 'status.json'))).toMatchObject({
      state: 'finished',
      step: 20,
    });
    const cfg = readJson<CellConfigJson>(path.join(exp, id, 'config.json'));
    byBlock.set(cfg.model.block, cfg);
  }
  const load = (b: string) => byBlock.get(b)!.resolved.model.pretrainedLoad;
  const notLoaded = (b: string) => load(b).notLoaded.map((t) => t.name);
  // plain SE loads every backbone tensor; only the new embedding head starts from scratch
  expect(notLoaded('se').every((n) => n.startsWith('head.'))).toBe(true);
  // DASE: the authors' strict=False rule leaves the domain-aware fc2 weights (stages 1-3) random
  const daseFc2 = notLoaded('dase').filter((n) => /se_module\.fc2\.weight$/.test(n));
  expect(daseFc2.length).toBe(3 + 4 + 6); // SE-ResNeXt-50 units in layer1-3
  expect(daseFc2.every((n) => /^backbone\.layer[123]\./.test(n))).toBe(true);
  expect(load('dase').source.sha256).toBe(load('se').source.sha256);
  expect(fs.existsSync(path.join(dir, 'report', 'ablation.md'))).toBe(true);
});
