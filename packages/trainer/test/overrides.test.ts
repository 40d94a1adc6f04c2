import { expandExperiment } from '../src/grid';
import { parseOverride } from '../src/overrides';
import { knownKeysAt } from '../src/schema';

const base = {
  dataset: { name: 'emoji', dir: '{dataRoot}/emoji-64', prepare: { dataset: 'emoji', size: 64 } },
  model: { backbone: 'resnet-tiny', block: 'se', inputSize: 64, embeddingDim: 64 },
  loss: 'mems',
  train: { epochs: 2, batchSize: 32, lr: 0.001 },
};

function doc(
  grid: Record<string, unknown> = { block: ['se', 'dase'], seed: [0, 1] },
): Record<string, unknown> {
  return { name: 'g', base: structuredClone(base), losses: { mems: { margin: 4 } }, grid };
}

const expand = (overrides: string[], grid?: Record<string, unknown>) =>
  expandExperiment(doc(grid), 'g.yaml', { overrides });

const errorOf = (overrides: string[], grid?: Record<string, unknown>): string => {
  try {
    expand(overrides, grid);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
};

describe('override grammar (Hydra)', () => {
  test.each([
    ['model.width=32', 32],
    ['train.lr=1e-3', 0.001],
    ['x=-2.5', -2.5],
    ['x=true', true],
    ['x=False', false],
    ['x=null', null],
    ['x=abc', 'abc'],
    ['x= padded ', 'padded'],
    ["x='1e-3'", '1e-3'],
    ['x="a,b"', 'a,b'],
    ["x='it\\'s'", "it's"],
    ['x=[1,2,3]', [1, 2, 3]],
    ["x=[a, 'b c', [1]]", ['a', 'b c', [1]]],
    ['x={margin: 2, annealSteps: auto}', { margin: 2, annealSteps: 'auto' }],
    ['x=[]', []],
    ['x=', ''],
  ])('%s', (text, value) => {
    const o = parseOverride(text);
    expect(o.op).toBe('set');
    expect(o.sweep).toBeUndefined();
    expect(o.value).toEqual(value);
  });

  test('prefixes and sweeps', () => {
    expect(parseOverride('~eval.centreHashBits')).toMatchObject({
      op: 'delete',
      path: ['eval', 'centreHashBits'],
    });
    expect(parseOverride('+model.hashBits=64')).toMatchObject({ op: 'add', value: 64 });
    expect(parseOverride('++model.hashBits=64')).toMatchObject({ op: 'force', value: 64 });
    expect(parseOverride('grid.seed=0,1,2').sweep).toEqual([0, 1, 2]);
    expect(parseOverride("grid.x='a,b',c").sweep).toEqual(['a,b', 'c']);
    expect(parseOverride('grid.seed=range(0,4)').sweep).toEqual([0, 1, 2, 3]);
    expect(parseOverride('grid.seed=range(3)').sweep).toEqual([0, 1, 2]);
    expect(parseOverride('grid.lr=choice(1e-3,1e-4)').sweep).toEqual([0.001, 0.0001]);
  });

  test.each([
    ['model.width', 'override model.width: missing "="'],
    ['=3', 'override =3: "" is not a key'],
    ["x='abc", "override x='abc: unterminated ' quote"],
    ['x=[1,2', 'override x=[1,2: expected "," or "]"'],
    ['~x=3', 'override ~x=3: ~key deletes a key and takes no value'],
    ['x=range(1,a)', 'override x=range(1,a): range() takes 1 to 3 numbers'],
  ])('bad syntax: %s', (text, message) => {
    expect(() => parseOverride(text)).toThrow(message);
  });
});

describe('overrides applied to an experiment', () => {
  test('a value override reaches every cell and changes the ids; the overrides are recorded', () => {
    const plain = expand([]);
    const exp = expand(['model.width=32', 'train.lr=1e-4']);
    expect(exp.overrides).toEqual(['model.width=32', 'train.lr=1e-4']);
    expect(exp.cells.map((c) => [c.model.width, c.train.lr])).toEqual(Array(4).fill([32, 0.0001]));
    expect(exp.cells.every((c) => c.overrides?.join(' ') === 'model.width=32 train.lr=1e-4')).toBe(true);
    for (let i = 0; i < 4; i++) expect(exp.cells[i]!.cellId).not.toBe(plain.cells[i]!.cellId);
    expect(exp.configSha256).not.toBe(plain.configSha256);
  });

  test('cell ids follow the resolved config, not how it was spelled', () => {
    const plain = expand([]);
    // an override that sets what the file already says resolves to the same cells
    expect(expand(['train.lr=0.001', 'model.block=se'], { seed: [0, 1] }).cells.map((c) => c.cellId)).toEqual(
      expand([], { seed: [0, 1] }).cells.map((c) => c.cellId),
    );
    // grid.seed=0,1,2 keeps the ids of seeds 0 and 1 and adds the seed-2 cells
    const more = expand(['grid.seed=0,1,2']);
    expect(more.cells).toHaveLength(6);
    const ids = new Set(more.cells.map((c) => c.cellId));
    for (const c of plain.cells) expect(ids.has(c.cellId)).toBe(true);
    expect(more.axes.seed).toEqual([0, 1, 2]);
  });

  test('grid overrides replace an axis in place, add one at the end, drop one, or pick named entries', () => {
    expect(Object.keys(expand(['grid.seed=3']).axes)).toEqual(['block', 'seed']);
    expect(expand(['grid.seed=3']).axes.seed).toEqual([3]);
    const added = expand(['grid.train.lr=1e-3,1e-4']);
    expect(added.axes).toEqual({ block: ['se', 'dase'], seed: [0, 1], 'train.lr': [0.001, 0.0001] });
    expect(added.cells.map((c) => c.train.lr)).toEqual([
      0.001, 0.0001, 0.001, 0.0001, 0.001, 0.0001, 0.001, 0.0001,
    ]);
    // an alias and its config path name the same axis
    expect(expand(['grid.model.block=dase']).axes).toEqual({ block: ['dase'], seed: [0, 1] });
    expect(expand(['~grid.seed']).cells).toHaveLength(2);
    const named = {
      dataset: { a: { dataset: { split: 'category' } }, b: { dataset: { split: 'zeroshot' } } },
    };
    expect(expand(['grid.dataset=b'], named).cells.map((c) => c.dataset.split)).toEqual(['zeroshot']);
  });

  test('delete, add and force; loss options by loss name', () => {
    const exp = expand(['~train.epochs', 'train.steps=50', 'losses.mems.margin=2', '+model.hashBits=16']);
    expect(exp.cells[0]!.train.epochs).toBeUndefined();
    expect(exp.cells[0]!.train.steps).toBe(50);
    expect(exp.cells[0]!.loss).toMatchObject({ name: 'mems', margin: 2 });
    expect(exp.cells[0]!.model.hashBits).toBe(16);
    expect(expand(['loss.margin=3'], { seed: [0] }).cells[0]!.loss).toMatchObject({
      name: 'mems',
      margin: 3,
    });
    expect(expand(['++train.lr=0.5']).cells[0]!.train.lr).toBe(0.5);
    expect(expand(['model={width: 8}']).cells[0]!.model).toMatchObject({
      width: 8,
      block: 'se',
      inputSize: 64,
    });
  });

  test.each([
    [
      ['model.widht=32'],
      `override model.widht=32: unknown key "widht" under model (known: ${knownKeysAt(['model'])!.join(', ')})`,
    ],
    [
      ['modle.width=32'],
      'override modle.width=32: unknown key "modle" (known: dataset, model, loss, train, eval, seed, losses, executor)',
    ],
    [['model={widht: 3}'], 'override model={widht: 3}: unknown key "widht" under model'],
    [['model.width.x=1'], 'override model.width.x=1: model.width is a value, not a map'],
    [['model.width=abc'], 'override model.width=abc: expected number, got string "abc"'],
    [['train.lr=-1'], 'override train.lr=-1: number must be greater than 0'],
    [
      ['train.steps=5'],
      'g.yaml: base.train (with override train.steps=5): give exactly one of train.epochs and train.steps',
    ],
    [
      ['model.block=dase'],
      'override model.block=dase: model.block is swept by grid.block; override the axis instead (grid.block=...)',
    ],
    [
      ['train.lr=1e-3,1e-4'],
      'override train.lr=1e-3,1e-4: a comma list is a sweep; sweep it with grid.train.lr=1e-3,1e-4',
    ],
    [
      ['+train.lr=1'],
      'override +train.lr=1: train.lr is already set (base.train.lr); use train.lr=1 or ++train.lr=1',
    ],
    [['~model.hashBits'], 'override ~model.hashBits: model.hashBits is not set'],
    [
      ['losses.foo.margin=1'],
      'override losses.foo.margin=1: unknown key "foo" under losses (known: softmax,',
    ],
    [['grid.model.widht=1,2'], 'override grid.model.widht=1,2: unknown axis "model.widht"'],
    [['grid.seed=[1,[2]]'], 'override grid.seed=[1,[2]]: an axis value must be a string, number or boolean'],
    [['~grid.lr'], 'override ~grid.lr: no axis "lr" (axes: block, seed)'],
    [
      ['model.width=8', 'model.width=16'],
      'override model.width=16: model.width is already overridden by model.width=8',
    ],
  ])('one-line errors: %j', (overrides, message) => {
    const text = errorOf(overrides);
    expect(text).toContain(message);
    expect(text).not.toContain('\n');
  });

  test('a named-override axis accepts only its entries', () => {
    const named = { dataset: { a: { dataset: { split: 'category' } } } };
    expect(errorOf(['grid.dataset=c'], named)).toBe(
      'override grid.dataset=c: axis "dataset" has no entry "c" (known: a)',
    );
  });
});
