import * as fs from 'node:fs';
import * as path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import {
  decodeToRgb,
  loadManifest,
  openDataset,
  prepareDataset,
  type ImageBatch,
  type Manifest,
} from '../src';
import { makeFolderTree, rmDir, tmpDir } from './fixtures';

let root: string;
let out: string;
let manifest: Manifest;

beforeAll(async () => {
  root = tmpDir('reader');
  await makeFolderTree(path.join(root, 'src'), {
    categories: ['ant', 'bee', 'cat', 'dog'],
    sketches: 10,
    photos: 6,
  });
  out = path.join(root, 'out');
  manifest = await prepareDataset({
    dataset: 'folder',
    root: path.join(root, 'src'),
    out,
    size: 8,
    shardRows: 12,
    batchRows: 5,
    queriesPerCategory: 3,
  });
});
afterAll(() => rmDir(root));

async function collect(it: AsyncIterable<ImageBatch>): Promise<ImageBatch[]> {
  const out: ImageBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

test('manifest: counts per split x domain, shards bounded, both subsets of the DSH protocol', () => {
  expect(manifest.classes).toEqual(['ant', 'bee', 'cat', 'dog']);
  expect(manifest.counts).toEqual({
    train: { sketch: 28, photo: 0 },
    query: { sketch: 12, photo: 0 },
    gallery: { sketch: 0, photo: 24 },
  });
  expect(manifest.subsetCounts.train).toEqual({ sketch: 28, photo: 24 });
  expect(manifest.shards.every((s) => s.rows <= 12)).toBe(true);
  expect(manifest.shards.every((s) => s.batches.every((b) => b.rows <= 5))).toBe(true);
  expect(manifest.split).toMatchObject({
    protocol: 'category',
    seed: 0,
    source: 'seeded',
    queriesPerCategory: 3,
    photosInTrain: true,
  });
  expect(loadManifest(out)).toEqual(manifest);
});

test('Arrow round trip: schema, dictionary columns and pixels equal a fresh decode', async () => {
  const file = path.join(out, manifest.shards[0].file);
  const t = tableFromIPC(fs.readFileSync(file));
  expect(t.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual([
    'id:Utf8',
    'domain:Dictionary<Int32, Utf8>',
    'category:Dictionary<Int32, Utf8>',
    'category_index:Int32',
    'instance:Utf8',
    'split:Dictionary<Int32, Utf8>',
    'image:Binary',
    'height:Int32',
    'width:Int32',
    'channels:Int32',
    'source:Utf8',
  ]);
  const row = t.get(0)!.toJSON() as Record<string, unknown>;
  expect(row.height).toBe(8);
  expect(row.channels).toBe(3);
  expect(row.id).toBe(row.source);
  expect(manifest.classes[row.category_index as number]).toBe(row.category);
  const fresh = await decodeToRgb({ kind: 'file', path: path.join(root, 'src', row.source as string) }, 8);
  expect(Buffer.from(row.image as Uint8Array).equals(fresh)).toBe(true);
});

test('subsets: query = held-out sketches, gallery = photos, train = training sketches + photos', async () => {
  const q = await collect(openDataset(out).batches({ subset: 'query', batchSize: 5 }));
  expect(q.map((b) => b.n)).toEqual([5, 5, 2]);
  expect(q.every((b) => b.domains.every((d) => d === 0))).toBe(true);
  const g = await collect(openDataset(out).batches({ subset: 'gallery', batchSize: 100 }));
  expect(g[0].n).toBe(24);
  expect(g[0].domains.every((d) => d === 1)).toBe(true);
  const tr = await collect(openDataset(out).batches({ subset: 'train', batchSize: 7, dropLast: true }));
  expect(tr.reduce((a, b) => a + b.n, 0)).toBe(49); // 52 rows, last partial batch dropped
  const ds = openDataset(out);
  expect([ds.count('train'), ds.count('query'), ds.count('gallery')]).toEqual([52, 12, 24]);
  const b = q[0];
  expect(b.images.length).toBe(5 * 8 * 8 * 3);
  expect(b.labels).toBeInstanceOf(Int32Array);
  expect(b.categories[0]).toBe(manifest.classes[b.labels[0]]);
  const qIds = new Set(q.flatMap((x) => x.ids));
  expect(tr.flatMap((x) => x.ids).some((id) => qIds.has(id))).toBe(false);
});

test('shuffle is seeded: same seed same order, other seed other order, same multiset', async () => {
  const ids = async (seed: number) =>
    (
      await collect(
        openDataset(out).batches({ subset: 'train', batchSize: 8, shuffle: true, shuffleBuffer: 6, seed }),
      )
    ).flatMap((b) => b.ids);
  const a = await ids(1);
  expect(await ids(1)).toEqual(a);
  const b = await ids(2);
  expect(b).not.toEqual(a);
  expect([...b].sort()).toEqual([...a].sort());
  expect(a).toHaveLength(52);
});

test('balanceDomains: half sketches, half photos per batch; limit caps the rows', async () => {
  const bs = await collect(
    openDataset(out).batches({
      subset: 'train',
      batchSize: 6,
      balanceDomains: true,
      shuffle: true,
      seed: 3,
      dropLast: true,
    }),
  );
  expect(bs).toHaveLength(8); // 24 photos / 3 per batch
  for (const b of bs) expect(Array.from(b.domains).filter((d) => d === 0)).toHaveLength(3);
  const lim = await collect(openDataset(out).batches({ subset: 'train', batchSize: 4, limit: 10 }));
  expect(lim.map((b) => b.n)).toEqual([4, 4, 2]);
});

test('bad batch options name the field', async () => {
  await expect(
    collect(openDataset(out).batches({ subset: 'test' as 'query', batchSize: 4 })),
  ).rejects.toThrow(/batches option subset: expected train \| query \| gallery, got "test"/);
  await expect(collect(openDataset(out).batches({ subset: 'query', batchSize: 0 }))).rejects.toThrow(
    /batches option batchSize: expected a positive integer, got 0/,
  );
});

test('zeroshot: unseen sketches are queries, unseen photos the gallery, seen classes train', async () => {
  const zs = path.join(root, 'zs');
  const m = await prepareDataset({
    dataset: 'folder',
    root: path.join(root, 'src'),
    out: zs,
    size: 8,
    split: 'zeroshot',
    unseenCount: 1,
    seed: 5,
  });
  expect(m.split).toMatchObject({ protocol: 'zeroshot', source: 'seeded', seenCount: 3 });
  const unseen = (m.split as { unseen: string[] }).unseen;
  expect(unseen).toHaveLength(1);
  expect(m.counts).toEqual({
    train: { sketch: 30, photo: 18 },
    query: { sketch: 10, photo: 0 },
    gallery: { sketch: 0, photo: 6 },
  });
  const q = await collect(openDataset(zs).batches({ subset: 'query', batchSize: 64 }));
  expect(new Set(q[0].categories)).toEqual(new Set(unseen));
  const tr = await collect(openDataset(zs).batches({ subset: 'train', batchSize: 64 }));
  expect(tr[0].categories.includes(unseen[0])).toBe(false);
});
