import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  decodeToRgb,
  encodeNpy,
  getAdapter,
  listAdapters,
  prepareDataset,
  registerAdapter,
  type Sample,
  type ScanResult,
} from '../src';
import { makeFolderTree, makeSketchyTree, rmDir, tmpDir, writeImage } from './fixtures';

let root: string;
beforeAll(() => {
  root = tmpDir('adapters');
});
afterAll(() => rmDir(root));

const count = (s: ScanResult, domain: string) => s.samples.filter((x: Sample) => x.domain === domain).length;

test('registry lists every adapter and rejects unknown and duplicate names', () => {
  expect(listAdapters()).toEqual(['emoji', 'folder', 'quickdraw', 'sketchy', 'tuberlin']);
  expect(() => getAdapter('imagenet')).toThrow(
    /unknown dataset "imagenet" \(option --dataset\); known datasets: emoji, folder/,
  );
  expect(() => registerAdapter(getAdapter('folder'))).toThrow(/already registered/);
});

describe('sketchy', () => {
  let dir: string;
  beforeAll(async () => {
    dir = path.join(root, 'sketchy');
    await makeSketchyTree(path.join(dir, '256x256'), {
      categories: ['airplane', 'teddy_bear'],
      photosPerCategory: 3,
      sketchesPerPhoto: 2,
      extra: path.join(dir, 'EXTEND'),
      extraPerCategory: 2,
    });
  });

  test('finds sketch/<tx_000100000000>/ and photo/<tx_000000000000>/ under the 256x256 level, plus extension photos (--original-photos)', async () => {
    const s = await getAdapter('sketchy').scan({
      root: dir,
      extraPhotos: path.join(dir, 'EXTEND'),
      originalPhotos: true,
    });
    expect(count(s, 'sketch')).toBe(12);
    expect(count(s, 'photo')).toBe(10);
    const sk = s.samples.find(
      (x) => x.source === '256x256/sketch/tx_000100000000/airplane/n00_100-2.png',
    ) as Sample;
    expect(sk).toMatchObject({ domain: 'sketch', category: 'airplane', instance: 'n00_100' });
    expect(
      s.samples.find((x) => x.source === '256x256/photo/tx_000000000000/airplane/n00_100.jpg')?.instance,
    ).toBe('n00_100');
    const ext = s.samples.find((x) => x.source === 'extra-photos/teddy_bear/ext_1.jpg') as Sample;
    expect(ext).toMatchObject({ domain: 'photo', category: 'teddy_bear' });
    const input = await s.load(ext, 16);
    expect(input).toEqual({ kind: 'file', path: path.join(dir, 'EXTEND', 'teddy_bear', 'ext_1.jpg') });
    expect(getAdapter('sketchy').defaultQueriesPerCategory).toBe(50);
  });

  test('another sketch folder is an error naming --sketch-folder', async () => {
    await expect(getAdapter('sketchy').scan({ root: dir, sketchFolder: 'tx_000000000000' })).rejects.toThrow(
      /option --sketch-folder: directory not found: .*tx_000000000000/,
    );
  });
});

test('tuberlin pairs png/<category> with extension photo folders (spaces dropped, known misspellings)', async () => {
  const dir = path.join(root, 'tub');
  const ext = path.join(root, 'tub-ext');
  for (const c of ['airplane', 'bear (animal)', 'giraffe'])
    for (let i = 0; i < 3; i++) await writeImage(path.join(dir, 'png', c, `${i}.png`));
  for (const c of ['airplane', 'bearanimal', 'griaffe'])
    for (let i = 0; i < 2; i++) await writeImage(path.join(ext, c, `${i}.jpg`));
  fs.writeFileSync(path.join(dir, 'png', 'filelist.txt'), 'not a category\n');
  const s = await getAdapter('tuberlin').scan({ root: dir, extraPhotos: ext });
  expect(count(s, 'sketch')).toBe(9);
  expect(count(s, 'photo')).toBe(6);
  expect(
    s.samples.filter((x) => x.category === 'giraffe' && x.domain === 'photo').map((x) => x.source),
  ).toEqual(['extra-photos/griaffe/0.jpg', 'extra-photos/griaffe/1.jpg']);
  await expect(getAdapter('tuberlin').scan({ root: dir })).rejects.toThrow(/needs --extra-photos/);
});

describe('quickdraw', () => {
  let dir: string;
  let photos: string;
  beforeAll(async () => {
    dir = path.join(root, 'qd');
    photos = path.join(root, 'qd-photos');
    fs.mkdirSync(dir, { recursive: true });
    for (const c of ['cat', 'hot air balloon']) {
      const rows = new Uint8Array(5 * 784);
      for (let r = 0; r < 5; r++) for (let x = 0; x < 28; x++) rows[r * 784 + 14 * 28 + x] = 255; // a horizontal stroke
      fs.writeFileSync(path.join(dir, `${c}.npy`), encodeNpy(rows, [5, 784]));
      for (let i = 0; i < 2; i++) await writeImage(path.join(photos, c, `${i}.jpg`));
    }
  });

  test('npy bitmaps: header parsed, rows capped, strokes become black on white', async () => {
    const s = await getAdapter('quickdraw').scan({ root: dir, photos, maxPerCategory: 3 });
    expect(count(s, 'sketch')).toBe(6);
    expect(count(s, 'photo')).toBe(4);
    const sk = s.samples.find((x) => x.source === 'cat.npy#2') as Sample;
    const rgb = await decodeToRgb(await s.load(sk, 28), 28);
    expect(rgb[(14 * 28 + 5) * 3]).toBeLessThan(40); // stroke row is dark
    expect(rgb[(3 * 28 + 5) * 3]).toBeGreaterThan(215); // background is white
  });

  test('simplified ndjson: strokes rasterised, bad lines skipped and counted', async () => {
    const nd = path.join(root, 'qd-nd');
    fs.mkdirSync(nd, { recursive: true });
    const line = (id: number) =>
      JSON.stringify({
        word: 'cat',
        key_id: String(id),
        recognized: true,
        drawing: [
          [
            [10, 200, 240],
            [128, 128, 20],
          ],
        ],
      });
    fs.writeFileSync(
      path.join(nd, 'full_simplified_cat.ndjson'),
      [line(1), '{broken', line(2), line(3)].join('\n') + '\n',
    );
    const s = await getAdapter('quickdraw').scan({ root: nd, photos, categories: ['cat'] });
    expect(count(s, 'sketch')).toBe(3);
    expect(s.skipped).toEqual([{ source: 'full_simplified_cat.ndjson#line2', reason: 'bad ndjson drawing' }]);
    const sk = s.samples.find((x) => x.instance === '2') as Sample;
    const rgb = await decodeToRgb(await s.load(sk, 64), 64);
    const dark = rgb.filter((v, i) => i % 3 === 0 && v < 100).length;
    expect(dark).toBeGreaterThan(40);
    expect(dark).toBeLessThan(64 * 64 * 0.3);
  });
});

test('folder adapter reads <root>/{sketch,photo}/<category>/*', async () => {
  const dir = path.join(root, 'folder');
  await makeFolderTree(dir, { categories: ['a', 'b'], sketches: 3, photos: 2 });
  const s = await getAdapter('folder').scan({ root: dir });
  expect(count(s, 'sketch')).toBe(6);
  expect(count(s, 'photo')).toBe(4);
  expect(s.samples[0]).toMatchObject({ domain: 'sketch', category: 'a', source: 'sketch/a/s000.png' });
});

test('emoji: icons of all seven sets matched to emojibase; line-art = sketch, colour = photo', async () => {
  const s = await getAdapter('emoji').scan({ maxCategories: 2, maxPerCategory: 3 });
  expect(count(s, 'sketch')).toBe(2 * 3 * 2);
  expect(count(s, 'photo')).toBe(2 * 3 * 5);
  const notes = s.notes as {
    instancesInAllSets: number;
    categories: number;
    matching: { set: string; unmatched: number; icons: number }[];
  };
  expect(notes.instancesInAllSets).toBeGreaterThan(900);
  for (const m of notes.matching) expect(m.unmatched / m.icons).toBeLessThan(0.06);
  expect(s.licenses.map((l) => `${l.name}:${l.spdx}`)).toEqual([
    'fluent-emoji-high-contrast:MIT',
    'emojione-monotone:CC-BY-4.0',
    'noto:Apache-2.0',
    'twemoji:CC-BY-4.0',
    'openmoji:CC-BY-SA-4.0',
    'emojione:CC-BY-4.0',
    'fluent-emoji-flat:MIT',
    'emojibase-data:MIT',
  ]);
  // Line art renders dark-on-white and grey; colour sets have saturated pixels.
  const sat = async (smp: Sample) => {
    const rgb = await decodeToRgb(await s.load(smp, 32), 32);
    let n = 0;
    for (let i = 0; i < rgb.length; i += 3)
      if (Math.max(rgb[i], rgb[i + 1], rgb[i + 2]) - Math.min(rgb[i], rgb[i + 1], rgb[i + 2]) > 60) n++;
    return n;
  };
  const inst = s.samples[0].instance;
  const forInst = s.samples.filter((x) => x.instance === inst);
  for (const smp of forInst.filter((x) => x.domain === 'sketch')) expect(await sat(smp)).toBe(0);
  const colourful = await Promise.all(forInst.filter((x) => x.domain === 'photo').map(sat));
  expect(Math.max(...colourful)).toBeGreaterThan(20);
});

test('emoji prepare end to end (small limit)', async () => {
  const out = path.join(root, 'emoji-out');
  const m = await prepareDataset({ dataset: 'emoji', out, size: 16, maxCategories: 2, maxPerCategory: 5 });
  expect(m.classes).toHaveLength(2);
  expect(m.counts.query.sketch).toBe(4); // 2 per category
  expect(m.counts.train.sketch).toBe(16);
  expect(m.counts.gallery.photo).toBe(50);
  expect(m.subsetCounts.train).toEqual({ sketch: 16, photo: 50 });
  expect(m.licenses.find((l) => l.name === 'openmoji')?.attribution).toMatch(/OpenMoji.*CC BY-SA 4\.0/);
});
