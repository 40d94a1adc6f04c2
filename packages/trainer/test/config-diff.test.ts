/**
 * Fidelity of the ablation axes: two cells of a shipped grid differ exactly by the axis that
 * separates them, in the resolved settings that config.json records (code defaults written out),
 * and an SE and a DASE network built from them differ only by the domain input.
 */
import { SbirNet, Rng, initBackend } from '@sbir/model';
import { loadExperiment, settingsOf } from '../src/grid';
import type { AxisValue, CellConfig } from '../src/schema';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Dotted paths whose values differ between two JSON values (arrays compared whole). */
function diffPaths(a: unknown, b: unknown, prefix = ''): string[] {
  const isObj = (v: unknown): v is Record<string, Json> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diffPaths(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

function cellOf(cells: CellConfig[], axes: Record<string, AxisValue>): CellConfig {
  const found = cells.find((c) => Object.entries(axes).every(([k, v]) => c.axes[k] === v));
  if (!found) throw new Error(`no cell ${JSON.stringify(axes)}`);
  return found;
}

describe('config.json of two cells differs exactly by their axis', () => {
  for (const name of ['paper-ablation', 'demo']) {
    test(`${name}: se vs dase, softmax vs mems, seed vs seed`, () => {
      const exp = loadExperiment(name, { dataRoot: '/data', weightsRoot: '/weights' });
      const first = exp.cells[0]!;
      const rest = { ...first.axes };
      const pick = (axis: string, value: string | number) => cellOf(exp.cells, { ...rest, [axis]: value });
      const se = pick('block', 'se');
      const dase = pick('block', 'dase');
      expect(diffPaths(settingsOf(se), settingsOf(dase))).toEqual(['model.block']);
      expect(diffPaths(settingsOf(pick('loss', 'softmax')), settingsOf(pick('loss', 'mems')))).toEqual(
        expect.arrayContaining(['loss.name']),
      );
      // the code defaults that shape the network are written out, not left to the code
      expect(se.model.attnActivation).toBe('sigmoid');
      expect(se.model.seReduction).toBe(16);
      expect(se.model.domainAwareStages).toEqual([1, 2, 3]);
      expect(typeof se.train.augment).toBe('object');
      expect(se.eval.distance).toBeDefined();
    });
  }

  test('paper-ablation: SE-ResNeXt-101 cells with the authors weights folder under --weights-root', () => {
    const exp = loadExperiment('paper-ablation', { dataRoot: '/data', weightsRoot: '/w' });
    for (const c of exp.cells) {
      expect(c.model.backbone).toBe('se_resnext101_32x4d');
      expect(c.model.pretrained).toBe('/w/se_resnext101_32x4d');
      expect(c.train.augment).toMatchObject({ name: 'authors' });
    }
    // where the weights live does not change the cell id
    const elsewhere = loadExperiment('paper-ablation', { dataRoot: '/elsewhere', weightsRoot: '/v' });
    expect(elsewhere.cells.map((c) => c.cellId)).toEqual(exp.cells.map((c) => c.cellId));
  });

  test("paper-ablation: euclidean-softmax -> mems changes the margin alone; 3 seeds; every hash length, authors' gallery order", () => {
    const exp = loadExperiment('paper-ablation', { dataRoot: '/data', weightsRoot: '/w' });
    const axes = { dataset: 'sketchy', block: 'dase', seed: 1 };
    const plain = cellOf(exp.cells, { ...axes, loss: 'euclidean-softmax' });
    const mems = cellOf(exp.cells, { ...axes, loss: 'mems' });
    expect(diffPaths(settingsOf(plain), settingsOf(mems)).sort()).toEqual([
      'loss.annealSteps',
      'loss.margin',
      'loss.name',
    ]);
    expect(plain.loss).toMatchObject({ name: 'euclidean-softmax', scale: 1 });
    expect(mems.loss).toMatchObject({ name: 'mems', margin: 4, scale: 1 });
    expect([...new Set(exp.cells.map((c) => c.axes.seed))]).toEqual([0, 1, 2]);
    expect(exp.cells).toHaveLength(36);
    expect(mems.eval).toMatchObject({ centreHashBits: [32, 64, 128], galleryOrder: 'category' });
    expect(mems.dataset.dir).toBe('/data/sketchy-256');
  });

  test('the networks of an SE and a DASE cell differ only by the domain input', async () => {
    await initBackend('tensorflow', { quiet: true });
    const exp = loadExperiment('demo', { dataRoot: '/data' });
    const nets = (['se', 'dase'] as const).map((block) => {
      const c = cellOf(exp.cells, { block, loss: 'softmax', seed: 0 });
      return new SbirNet({ ...c.model, numClasses: 5 }, new Rng(0));
    });
    const [se, dase] = nets as [SbirNet, SbirNet];
    const cfgDiff = diffPaths(se.getConfig(), dase.getConfig());
    expect(cfgDiff).toContain('block');
    for (const p of cfgDiff) expect(p).toMatch(/^(block|domainAwareStages)$/);
    const shapes = (n: SbirNet) =>
      new Map([...n.store.params].map(([k, v]) => [k, v.shape.join('x')] as [string, string]));
    const a = shapes(se);
    const b = shapes(dase);
    expect([...b.keys()]).toEqual([...a.keys()]);
    const differing = [...a.keys()].filter((k) => a.get(k) !== b.get(k));
    expect(differing.length).toBeGreaterThan(0);
    for (const k of differing) {
      expect(k).toMatch(/\.se_module\.fc2\.weight$/);
      const [ra, ca] = a.get(k)!.split('x').map(Number) as [number, number];
      const [rb, cb] = b.get(k)!.split('x').map(Number) as [number, number];
      expect([rb, cb]).toEqual([ra + 1, ca]); // one more input row: the domain column of fc2
    }
    for (const n of nets) n.dispose();
  });
});
