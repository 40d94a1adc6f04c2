/**
 * Issue 21: Sketchy and TU-Berlin are prepared as the authors read them: stretched (not letterboxed)
 * at 256 px, the extended gallery alone without duplicates, and its size checked against the
 * published count.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exitCodeFor } from '@sbir/core';
import sharp from 'sharp';
import { DataError, getAdapter, openDataset, prepareDataset, type Sample } from '../src';
import { makeSketchyTree, rmDir, tmpDir } from './fixtures';

let root: string;
let dataset: string;
let extra: string;
beforeAll(async () => {
  root = tmpDir('paper-prep');
  dataset = path.join(root, 'Sketchy');
  extra = path.join(root, 'EXTEND');
  await makeSketchyTree(path.join(dataset, '256x256'), {
    categories: ['airplane', 'teddy_bear'],
    photosPerCategory: 2,
    sketchesPerPhoto: 2,
    extra,
    extraPerCategory: 2,
  });
  // a wide photo, solid blue: stretched it fills the square, letterboxed it gets white bands
  await sharp({ create: { width: 60, height: 30, channels: 3, background: { r: 0, g: 0, b: 200 } } })
    .jpeg({ quality: 95 })
    .toFile(path.join(extra, 'airplane', 'wide.jpg'));
});
afterAll(() => rmDir(root));

async function galleryPixel(dir: string, id: string, x: number, y: number): Promise<number[]> {
  const ds = openDataset(dir);
  for await (const b of ds.batches({ subset: 'gallery', batchSize: 64 })) {
    const i = b.ids.indexOf(id);
    if (i < 0) continue;
    const px = b.height * b.width * 3;
    const at = i * px + (y * b.width + x) * 3;
    return Array.from(b.images.subarray(at, at + 3));
  }
  throw new Error(`${id} not in the gallery`);
}

test('sketchy is stretched to 256 px by default (the authors resize the file to a square), not letterboxed', async () => {
  const out = path.join(root, 'stretched');
  const m = await prepareDataset({
    dataset: 'sketchy',
    root: dataset,
    extraPhotos: extra,
    out,
    galleryCheck: false,
    queriesPerCategory: 1,
  });
  expect({ size: m.size, fit: m.fit }).toEqual({ size: 256, fit: 'fill' });
  const corner = await galleryPixel(out, 'extra-photos/airplane/wide.jpg', 0, 0);
  expect(corner[2]).toBeGreaterThan(150); // blue to the edge
  expect(corner[0]).toBeLessThan(60);
  // the letterboxed form, asked for by name, has white bands above and below the wide photo
  const boxed = path.join(root, 'boxed');
  await prepareDataset({
    dataset: 'sketchy',
    root: dataset,
    extraPhotos: extra,
    out: boxed,
    fit: 'contain',
    galleryCheck: false,
    queriesPerCategory: 1,
  });
  expect(await galleryPixel(boxed, 'extra-photos/airplane/wide.jpg', 0, 0)).toEqual([255, 255, 255]);
  expect(getAdapter('tuberlin')).toMatchObject({ defaultFit: 'fill', defaultSize: 256 });
});

test('a gallery that differs from the published count is an error naming both numbers; a subset is not checked', async () => {
  const out = path.join(root, 'counted');
  const err = await prepareDataset({
    dataset: 'sketchy',
    root: dataset,
    extraPhotos: extra,
    out,
    queriesPerCategory: 1,
  }).catch((e) => e);
  expect(err).toBeInstanceOf(DataError);
  expect(err.message).toMatch(
    /^dataset "sketchy": found 5 photos, the published gallery has 73002 \(extended Sketchy/,
  );
  expect(err.message).not.toMatch(/\n/);
  expect(exitCodeFor(err)).toBe(2);
  expect(fs.existsSync(path.join(out, 'manifest.json'))).toBe(false);
  const lines: string[] = [];
  await prepareDataset({
    dataset: 'sketchy',
    root: dataset,
    extraPhotos: extra,
    out: path.join(root, 'subset'),
    maxCategories: 1,
    queriesPerCategory: 1,
    log: (l) => lines.push(l),
  });
  expect(lines).toContain('gallery: 3 photos, not checked against the published 73002 (a subset)');
});

describe('sketchy photos: the extension alone, as the authors; --original-photos adds the rest once', () => {
  let twinRoot: string;
  let twinExtra: string;
  beforeAll(async () => {
    twinRoot = path.join(root, 'twins');
    twinExtra = path.join(root, 'twins-ext');
    await makeSketchyTree(path.join(twinRoot, '256x256'), {
      categories: ['airplane'],
      photosPerCategory: 2,
      sketchesPerPhoto: 1,
      extra: twinExtra,
      extraPerCategory: 1,
    });
    // the extension holds one of the original photos again (same file name)
    fs.copyFileSync(
      path.join(twinRoot, '256x256', 'photo', 'tx_000000000000', 'airplane', 'n00_100.jpg'),
      path.join(twinExtra, 'airplane', 'n00_100.jpg'),
    );
  });
  const photos = (samples: Sample[]) =>
    samples
      .filter((s) => s.domain === 'photo')
      .map((s) => s.source)
      .sort();

  test('with --extra-photos the gallery is the extension folder', async () => {
    const s = await getAdapter('sketchy').scan({ root: twinRoot, extraPhotos: twinExtra });
    expect(photos(s.samples)).toEqual([
      'extra-photos/airplane/ext_0.jpg',
      'extra-photos/airplane/n00_100.jpg',
    ]);
    expect(s.notes).toMatchObject({ photoFolder: null, extraPhotos: true });
  });

  test('--original-photos adds photo/<folder>, skipping an original already in the extension', async () => {
    const s = await getAdapter('sketchy').scan({
      root: twinRoot,
      extraPhotos: twinExtra,
      originalPhotos: true,
    });
    expect(photos(s.samples)).toEqual([
      '256x256/photo/tx_000000000000/airplane/n00_101.jpg',
      'extra-photos/airplane/ext_0.jpg',
      'extra-photos/airplane/n00_100.jpg',
    ]);
    expect(s.skipped).toEqual([
      {
        source: '256x256/photo/tx_000000000000/airplane/n00_100.jpg',
        reason: 'duplicate of an extension photo (extra-photos/airplane/n00_100.jpg)',
      },
    ]);
  });

  test('without --extra-photos the original photo folder is the gallery', async () => {
    const s = await getAdapter('sketchy').scan({ root: twinRoot });
    expect(photos(s.samples)).toHaveLength(2);
  });
});
