/**
 * Registry-driven grid checks: a yaml grid over every registered backbone, block and loss of @sbir/model
 * expands to one cell per combination, each config naming its values, and two cells that differ by one
 * axis differ in their settings only there. A backbone, block or loss added to its registry is covered
 * here without editing this file (no training: the model tests train every backbone x block).
 */
import { listBackbones, listBlocks, listLosses, resolveLossOptions } from '@sbir/model';
import { expandExperiment, settingsOf } from '../src/grid';
import type { CellConfig } from '../src/schema';

const doc = (grid: Record<string, unknown[]>) => ({
  name: 'registries',
  base: {
    dataset: { name: 'emoji', dir: '/data/emoji-64' },
    model: { backbone: 'resnet-tiny', block: 'se', inputSize: 64, embeddingDim: 64 },
    loss: 'softmax',
    train: { epochs: 2, batchSize: 32, lr: 0.001 },
  },
  grid,
});

/** Top-level settings sections whose JSON differs between two cells. */
function differingSections(a: CellConfig, b: CellConfig): string[] {
  const sa = settingsOf(a) as Record<string, unknown>;
  const sb = settingsOf(b) as Record<string, unknown>;
  return [...new Set([...Object.keys(sa), ...Object.keys(sb)])]
    .filter((k) => JSON.stringify(sa[k]) !== JSON.stringify(sb[k]))
    .sort();
}

test('a grid over every backbone x block x loss: one cell each, configs naming their values, ids unique', () => {
  const grid = { backbone: listBackbones(), block: listBlocks(), loss: listLosses() };
  const exp = expandExperiment(doc(grid), 'registries.yaml');
  expect(exp.cells).toHaveLength(grid.backbone.length * grid.block.length * grid.loss.length);
  expect(new Set(exp.cells.map((c) => c.cellId)).size).toBe(exp.cells.length);
  for (const c of exp.cells) {
    expect(c.model.backbone).toBe(c.axes.backbone);
    expect(c.model.block).toBe(c.axes.block);
    expect(c.loss.name).toBe(c.axes.loss);
  }
});

test.each(listLosses())(
  'loss %s: its options written out with the defaults; it differs from softmax in the loss (and the distance it asks for)',
  (name) => {
    const exp = expandExperiment(doc({ loss: [...new Set(['softmax', name])] }), 'registries.yaml');
    const cell = exp.cells.find((c) => c.loss.name === name)!;
    const options = Object.keys(cell.loss).filter((k) => k !== 'name');
    // every option the model resolves for the loss is written out (values may stay symbolic, e.g. annealSteps auto)
    expect(options.sort()).toEqual(Object.keys(resolveLossOptions({ name } as never)).sort());
    const softmax = exp.cells.find((c) => c.loss.name === 'softmax')!;
    if (name === 'softmax') return;
    const sections = differingSections(softmax, cell);
    // a loss may choose the retrieval distance (cosface / arcface: angular), nothing else outside `loss`
    expect(sections.filter((k) => k !== 'eval')).toEqual(['loss']);
    if (sections.includes('eval'))
      expect({ ...cell.eval, distance: softmax.eval.distance }).toEqual(softmax.eval);
  },
);

test.each(listBlocks())('block %s: only the model section differs from se', (block) => {
  const exp = expandExperiment(doc({ block: [...new Set(['se', block])] }), 'registries.yaml');
  const [se, other] = ['se', block].map((b) => exp.cells.find((c) => c.model.block === b)!);
  expect(other).toBeDefined();
  if (block !== 'se') expect(differingSections(se!, other!)).toEqual(['model']);
});
