/**
 * Registry-driven checks of the adapters' own options (adapters/options.ts): every registered adapter's
 * schema has a command-line form, the data CLI offers a flag for each, prepare checks each value and
 * refuses an option the dataset does not read. An adapter added to the registry is covered here without
 * editing this file; the toy adapter at the end shows that a new option needs only the adapter's file.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import {
  checkPrepareOptions,
  getAdapter,
  listAdapters,
  prepareDataset,
  registerAdapter,
  type DatasetAdapter,
} from '../src';
import { adapterOption, optionFlag, optionShape, readAdapterOptions } from '../src/adapters/options';
import { listAdapterOptions } from '../src/adapters/registry';
import { REPO_ROOT } from '../src/cli';
import { rmDir, tmpDir } from './fixtures';

jest.setTimeout(60_000);

const CLI = path.join(REPO_ROOT, 'packages', 'data', 'src', 'cli.ts');

/** A value of the wrong kind for a field, and the text its error says was expected. */
function badValue(field: z.ZodTypeAny): unknown {
  const shape = optionShape(field);
  if (shape.choices) return 'not-a-choice';
  if (shape.type === 'number') return 0; // every numeric adapter option so far is a positive integer
  if (shape.type === 'string') return 42;
  return 'not-a-boolean';
}

const base = (dataset: string) => ({ dataset, out: '/tmp/never-written' });

describe.each(listAdapters())('adapter %s', (name) => {
  const adapter = getAdapter(name);
  const own = Object.entries(adapter.options.shape);

  it('declares a version, a description and described options with a command-line form', () => {
    expect(adapter.version).toMatch(/^\d+$/);
    expect(adapter.description.length).toBeGreaterThan(10);
    for (const [option, field] of own) {
      expect(option).toMatch(/^[a-z][a-zA-Z0-9]*$/);
      const shape = optionShape(field);
      expect(shape.description.length).toBeGreaterThan(5);
      // the default, where declared, is a valid value of the option
      if (shape.defaultValue !== undefined) expect(field.safeParse(shape.defaultValue).success).toBe(true);
    }
  });

  it('prepare checks each of its options and names the flag in a one-line error', () => {
    for (const [option, field] of own) {
      const value = badValue(field);
      expect(() => checkPrepareOptions({ ...base(name), [option]: value })).toThrow(
        new RegExp(
          `^option --${optionFlag(option)}: expected .+, got ${JSON.stringify(JSON.stringify(value)).slice(1, -1)}$`,
        ),
      );
    }
  });

  it('prepare refuses the options that only other adapters read', () => {
    const foreign = listAdapterOptions().filter((o) => !(o.name in adapter.options.shape));
    for (const o of foreign) {
      const value = optionShape(o.declaredBy[0].field).type === 'number' ? 3 : 'x';
      expect(() => checkPrepareOptions({ ...base(name), [o.name]: value })).toThrow(
        `option --${optionFlag(o.name)} is not used by dataset "${name}"`,
      );
    }
  });

  it("scan reads its options with the schema's defaults", () => {
    const read = readAdapterOptions(adapter.options, { root: '/r' }) as Record<string, unknown>;
    expect(read.root).toBe('/r');
    for (const [option, field] of own) expect(read[option]).toEqual(optionShape(field).defaultValue);
  });
});

test('the data CLI offers one flag per adapter option, describing it for each adapter that reads it', () => {
  const help = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'prepare', '--help'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  expect(help.status).toBe(0);
  const text = help.stdout.replace(/\s+/g, ' ');
  const options = listAdapterOptions();
  expect(options.length).toBeGreaterThan(0);
  for (const o of options) {
    expect(text).toContain(`--${optionFlag(o.name)} `);
    for (const { adapter } of o.declaredBy)
      expect(text).toMatch(new RegExp(`--${optionFlag(o.name)} [^-]*\\b${adapter}\\b`));
  }
});

test('registering an adapter checks its options against the prepare options and the other adapters', () => {
  const adapter = (name: string, options: DatasetAdapter['options']): DatasetAdapter => ({
    ...getAdapter('folder'),
    name,
    options,
  });
  expect(() =>
    registerAdapter(adapter('clash-type', z.object({ maxPerCategory: adapterOption.dir('a folder') }))),
  ).toThrow(
    'adapter "clash-type" option "maxPerCategory" is a string but adapter "emoji" declares it a number',
  );
  expect(() =>
    registerAdapter(adapter('clash-prepare', z.object({ size: adapterOption.positiveInt('an edge') }))),
  ).toThrow('adapter "clash-prepare" option "size" shadows the prepare option of that name');
  expect(() =>
    registerAdapter(adapter('no-cli-form', z.object({ weights: z.array(z.number()).describe('a list') }))),
  ).toThrow(/has no command-line form/);
  expect(listAdapters()).not.toContain('clash-type');
});

describe('an adapter with an option of its own, registered from one file', () => {
  const toyOptions = z.object({ stripes: adapterOption.positiveIntWithDefault('stripes per photo', 2) });
  const toy: DatasetAdapter = {
    name: 'toy-stripes',
    version: '1',
    description: 'in-memory stripes (test only)',
    options: toyOptions,
    needsRoot: false,
    defaultQueriesPerCategory: 1,
    defaultUnseen: 1,
    async scan(given) {
      const opts = readAdapterOptions(toyOptions, given);
      const samples = ['a', 'b'].flatMap((category) =>
        [0, 1, 2].flatMap((i) =>
          (['sketch', 'photo'] as const).map((domain) => ({
            domain,
            category,
            instance: `${category}${i}`,
            source: `${category}/${domain}${i}`,
          })),
        ),
      );
      return {
        samples,
        skipped: [],
        licenses: [{ name: 'toy', spdx: 'CC0-1.0', attribution: 'test data' }],
        notes: { stripes: opts.stripes },
        async load(s, size) {
          const data = Buffer.alloc(size * size, s.domain === 'photo' ? 255 : 0);
          for (let y = 0; y < size; y += Math.max(1, Math.floor(size / opts.stripes)))
            data.fill(128, y * size, (y + 1) * size);
          return { kind: 'raw', data, width: size, height: size, channels: 1 };
        },
      };
    },
  };
  let dir: string;
  beforeAll(() => {
    registerAdapter(toy);
    dir = tmpDir('toy');
  });
  afterAll(() => rmDir(dir));

  it('is checked by prepare, reaches scan with its default, and is recorded in the manifest only when given', async () => {
    expect(() => checkPrepareOptions({ ...base('toy-stripes'), stripes: 0 })).toThrow(
      'option --stripes: expected a positive integer, got 0',
    );
    expect(() => checkPrepareOptions({ ...base('folder'), stripes: 3 })).toThrow(
      'option --stripes is not used by dataset "folder"',
    );
    const plain = await prepareDataset({ dataset: 'toy-stripes', out: path.join(dir, 'plain'), size: 8 });
    expect(plain.notes).toEqual({ stripes: 2 });
    expect(plain.options).not.toHaveProperty('stripes');
    const given = await prepareDataset({
      dataset: 'toy-stripes',
      out: path.join(dir, 'given'),
      size: 8,
      stripes: 4,
    });
    expect(given.notes).toEqual({ stripes: 4 });
    expect(given.options).toMatchObject({ stripes: 4 });
    expect(fs.existsSync(path.join(dir, 'given', 'manifest.json'))).toBe(true);
  });
});
