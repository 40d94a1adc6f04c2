import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalJson, cellIdOf, expandExperiment, loadExperiment, settingsOf } from '../src/grid';
import { selectCells } from '../src/ablation';
import { tmpDir } from './fixtures';

const base = {
  dataset: { name: 'emoji', dir: '{dataRoot}/emoji-64', prepare: { dataset: 'emoji', size: 64 } },
  model: { backbone: 'resnet-tiny', block: 'se', inputSize: 64, embeddingDim: 64 },
  loss: 'mems',
  train: { epochs: 2, batchSize: 32, lr: 0.001 },
};

function doc(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'g',
    base: structuredClone(base),
    losses: { mems: { margin: 4 } },
    grid: { block: ['se', 'dase'], loss: ['softmax', 'mems'], seed: [0, 1, 2] },
    ...extra,
  };
}

describe('grid expansion', () => {
  test('the product of the axes, first axis outermost, with the axis values of each cell', () => {
    const exp = expandExperiment(doc(), 'g.yaml');
    expect(exp.cells).toHaveLength(12);
    expect(exp.axes).toEqual({ block: ['se', 'dase'], loss: ['softmax', 'mems'], seed: [0, 1, 2] });
    expect(exp.cells.map((c) => `${c.axes.block}/${c.axes.loss}/${c.axes.seed}`).slice(0, 4)).toEqual([
      'se/softmax/0',
      'se/softmax/1',
      'se/softmax/2',
      'se/mems/0',
    ]);
    const c = exp.cells.find((x) => x.axes.block === 'dase' && x.axes.loss === 'mems' && x.axes.seed === 2)!;
    expect(c.model.block).toBe('dase');
    expect(c.seed).toBe(2);
    // a loss given by name takes its options from `losses:`, with the model's defaults filled in
    expect(c.loss).toEqual({ name: 'mems', margin: 4, scale: 1, annealSteps: 'auto' });
    // softmax has no options: nothing of mems leaks into it
    expect(exp.cells[0]!.loss).toEqual({ name: 'softmax' });
    expect(new Set(exp.cells.map((x) => x.cellId)).size).toBe(12);
    for (const cell of exp.cells) {
      expect(cell.cellId).toMatch(/^[0-9a-f]{12}$/);
      expect(cell.formatVersion).toBe(1);
      expect(cell.experiment).toBe('g');
    }
  });

  test('named override objects merge onto the base; dotted paths work as scalar axes', () => {
    const exp = expandExperiment(
      doc({
        grid: {
          dataset: {
            small: { dataset: { dir: 'data/small' }, model: { inputSize: 32 } },
            big: { model: { inputSize: 96, embeddingDim: 128 } },
          },
          'train.lr': [0.01, 0.001],
        },
      }),
      'g.yaml',
    );
    expect(exp.cells).toHaveLength(4);
    expect(exp.axes.dataset).toEqual(['small', 'big']);
    const small = exp.cells[0]!;
    expect(small.axes).toEqual({ dataset: 'small', 'train.lr': 0.01 });
    expect(small.dataset.dir).toBe('data/small');
    expect(small.model.inputSize).toBe(32);
    expect(small.model.embeddingDim).toBe(64); // kept from the base
    expect(exp.cells[3]!.model.embeddingDim).toBe(128);
    expect(exp.cells[3]!.train.lr).toBe(0.001);
  });

  test('a named override may refine the loss options of its cells', () => {
    const exp = expandExperiment(
      doc({
        grid: {
          data: { small: {}, big: { train: { lr: 0.01 }, losses: { mems: { margin: 3 } } } },
          loss: ['softmax', 'mems'],
        },
      }),
      'g.yaml',
    );
    const mems = exp.cells.filter((c) => c.loss.name === 'mems');
    expect(mems.map((c) => [c.axes.data, c.loss.margin as number])).toEqual([
      ['small', 4],
      ['big', 3],
    ]);
    expect(() =>
      expandExperiment(doc({ grid: { data: { big: { losses: { memz: {} } } } } }), 'g.yaml'),
    ).toThrow('g.yaml: grid.data.big.losses.memz: unknown loss "memz"');
  });

  test('no grid: one cell', () => {
    const exp = expandExperiment(doc({ grid: {} }), 'g.yaml');
    expect(exp.cells).toHaveLength(1);
    expect(exp.cells[0]!.axes).toEqual({});
  });

  test('two axis values resolving to the same config are an error', () => {
    expect(() => expandExperiment(doc({ grid: { loss: ['mems', 'mems'] } }), 'g.yaml')).toThrow(
      'grid.loss[1]: duplicate value "mems"',
    );
    expect(() =>
      expandExperiment(
        doc({ grid: { v: { a: { train: { lr: 0.1 } }, b: { train: { lr: 0.1 } } } } }),
        'g.yaml',
      ),
    ).toThrow(/resolve to the same config/);
  });
});

describe('cell ids', () => {
  test('first 12 hex of sha256 of the canonical (sorted-key) JSON', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { y: 1, x: 2 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"x":2,"y":1}]},"b":1}',
    );
    const cell = expandExperiment(doc(), 'g.yaml').cells[0]!;
    expect(cellIdOf(settingsOf(cell))).toBe(cell.cellId);
    expect(
      cellIdOf({ seed: 1, model: { b: 2, a: 1 }, dataset: { name: 'x', dir: '/anywhere' } } as never),
    ).toBe(cellIdOf({ dataset: { dir: 'elsewhere', name: 'x' }, model: { a: 1, b: 2 }, seed: 1 } as never));
    // golden value: sha256('{"dataset":{"name":"x"},"seed":1}') — dataset.dir is not part of the id
    expect(cellIdOf({ seed: 1, dataset: { name: 'x', dir: 'd' } } as never)).toBe('57745a4db97a');
  });

  test('stable across formatting, key order, number spelling, experiment name, data root and file location', () => {
    const dir = tmpDir('grid');
    const a = path.join(dir, 'a.yaml');
    fs.writeFileSync(
      a,
      `name: first
base:
  dataset: { name: emoji, dir: "{dataRoot}/emoji-64", prepare: { dataset: emoji, size: 64 } }
  model: { backbone: resnet-tiny, block: se, inputSize: 64, embeddingDim: 64 }
  loss: mems
  train: { epochs: 2, batchSize: 32, lr: 0.0001 }
losses: { mems: { margin: 4 } }
grid:
  block: [se, dase]
`,
    );
    fs.mkdirSync(path.join(dir, 'sub'));
    const b = path.join(dir, 'sub', 'b.yaml');
    fs.writeFileSync(
      b,
      `# same experiment, written differently
grid:
  block:
    - se
    - dase
losses:
  mems:
    margin: 4.0
name: second
base:
  train:
    lr: 1.0e-4
    batchSize: 32
    epochs: 2
  loss: { name: mems }
  model:
    embeddingDim: 64
    inputSize: 64
    block: dase
    backbone: resnet-tiny
  dataset:
    prepare: { size: 64, dataset: emoji }
    dir: /somewhere/else/emoji-64
    name: emoji
`,
    );
    const ea = loadExperiment(a, { dataRoot: 'data' });
    const eb = loadExperiment(b, { dataRoot: '/mnt/other' });
    expect(eb.cells.map((c) => c.cellId)).toEqual(ea.cells.map((c) => c.cellId));
    expect(ea.cells[0]!.dataset.dir).toBe('data/emoji-64');
    // the id is not a function of time or process: loading again gives the same ids
    expect(loadExperiment(a).cells.map((c) => c.cellId)).toEqual(ea.cells.map((c) => c.cellId));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a setting that changes results changes the id', () => {
    const one = expandExperiment(doc(), 'g.yaml').cells[0]!.cellId;
    const d = doc();
    (d.base as typeof base).train.lr = 0.002;
    expect(expandExperiment(d, 'g.yaml').cells[0]!.cellId).not.toBe(one);
    const m = doc();
    (m.losses as Record<string, Record<string, number>>).mems!.margin = 2;
    const memsCell = (e: ReturnType<typeof expandExperiment>) =>
      e.cells.find((c) => c.loss.name === 'mems')!.cellId;
    expect(memsCell(expandExperiment(m, 'g.yaml'))).not.toBe(memsCell(expandExperiment(doc(), 'g.yaml')));
  });
});

describe('--only', () => {
  const exp = expandExperiment(doc(), 'g.yaml');
  test('axis=value filters AND across axes, OR within one; id prefixes', () => {
    expect(selectCells(exp, ['block=dase'])).toHaveLength(6);
    expect(selectCells(exp, ['block=dase', 'loss=mems'])).toHaveLength(3);
    expect(selectCells(exp, ['seed=0,1', 'loss=mems'])).toHaveLength(4);
    const id = exp.cells[5]!.cellId;
    expect(selectCells(exp, [id.slice(0, 6)]).map((c) => c.cellId)).toContain(id);
  });
  test('unknown axis or no match is a one-line error', () => {
    expect(() => selectCells(exp, ['blok=se'])).toThrow(
      '--only blok=...: unknown axis "blok" (axes: block, loss, seed)',
    );
    expect(() => selectCells(exp, ['block=none'])).toThrow('no cell matches');
  });
});

describe('sensitivity design (one factor at a time around the grid)', () => {
  const sensitivity = {
    claims: [{ axis: 'block', baseline: 'se', treatment: 'dase' }],
    factors: {
      rate: { path: 'lr', values: [0.001, 0.01] },
      margin: { path: 'loss.margin', values: [2, 4], when: { loss: 'mems' } },
    },
  };

  test('adds the grid cells once per non-base value; factors become axes, n/a outside `when`', () => {
    const exp = expandExperiment(doc({ sensitivity }), 'g.yaml');
    // 12 grid cells + 12 at lr 0.01 + 6 MEMS cells at margin 2
    expect(exp.cells).toHaveLength(30);
    expect(new Set(exp.cells.map((c) => c.cellId)).size).toBe(30);
    expect(exp.axes.rate).toEqual([0.001, 0.01]);
    expect(exp.axes.margin).toEqual([2, 4, 'n/a']);
    const centre = exp.cells.slice(0, 12);
    expect(centre.every((c) => c.axes.rate === 0.001)).toBe(true);
    expect(centre.map((c) => c.axes.margin)).toEqual(centre.map((c) => (c.axes.loss === 'mems' ? 4 : 'n/a')));
    const atMargin2 = exp.cells.filter((c) => c.axes.margin === 2);
    expect(atMargin2).toHaveLength(6);
    for (const c of atMargin2) {
      expect(c.loss).toMatchObject({ name: 'mems', margin: 2 });
      expect(c.axes.rate).toBe(0.001); // one factor at a time
      expect(c.train.lr).toBe(0.001);
    }
    for (const c of exp.cells.filter((c) => c.axes.rate === 0.01)) {
      expect(c.train.lr).toBe(0.01);
      expect(c.axes.margin).toBe(c.axes.loss === 'mems' ? 4 : 'n/a');
    }
    expect(exp.sensitivity).toEqual({
      metric: 'mAP@all',
      claims: sensitivity.claims,
      factors: [
        { name: 'rate', path: 'train.lr', values: [0.001, 0.01], baseline: 0.001, when: {} },
        { name: 'margin', path: 'loss.margin', values: [2, 4], baseline: 4, when: { loss: 'mems' } },
      ],
    });
  });

  test('the shipped sensitivity.yaml: 126 cells whose centre is the demo grid, cell for cell', () => {
    const study = loadExperiment('sensitivity');
    const demo = loadExperiment('demo');
    expect(study.cells).toHaveLength(126); // 120 + margin m = 1 (2 blocks x MEMS x 3 seeds)
    const centre = study.cells.filter((c) =>
      study.sensitivity!.factors.every((f) => [f.baseline, 'n/a'].includes(c.axes[f.name]!)),
    );
    expect(centre.map((c) => c.cellId)).toEqual(demo.cells.map((c) => c.cellId));
    // every other cell is off its base value in exactly one factor
    for (const c of study.cells) {
      const off = study.sensitivity!.factors.filter((f) => ![f.baseline, 'n/a'].includes(c.axes[f.name]!));
      expect(off.length).toBeLessThanOrEqual(1);
    }
  });

  test.each([
    [
      { claims: [{ axis: 'blok', baseline: 'se', treatment: 'dase' }] },
      'sensitivity.claims[0].axis: "blok" is not a grid axis',
    ],
    [
      { claims: [{ axis: 'block', baseline: 'se', treatment: 'cbam' }] },
      'sensitivity.claims[0].treatment: "cbam" is not a value of grid.block',
    ],
    [
      { factors: { rate: { path: 'lr', values: [0.01, 0.1] } } },
      "sensitivity.factors.rate.values: must include the base config's value 0.001",
    ],
    [
      { factors: { loss: { path: 'lr', values: [0.001, 0.1] } } },
      'sensitivity.factors.loss: the name is a grid axis',
    ],
    [
      { factors: { rate: { path: 'train.lrr', values: [0.001, 0.1] } } },
      'sensitivity.factors.rate.path: "train.lrr" is not a config path',
    ],
    [
      { factors: { m: { path: 'loss.margin', values: [2, 4], when: { los: 'mems' } } } },
      'sensitivity.factors.m.when.los: not a grid axis',
    ],
    [
      { factors: { m: { path: 'loss.margin', values: [2, 4], when: { loss: 'arcface' } } } },
      'sensitivity.factors.m.when: no grid cell matches',
    ],
  ])('a bad block is one line naming its yaml path (%#)', (patch, message) => {
    const s = { ...sensitivity, ...patch };
    expect(() => expandExperiment(doc({ sensitivity: s }), 'g.yaml')).toThrow(`g.yaml: ${message}`);
  });
});
