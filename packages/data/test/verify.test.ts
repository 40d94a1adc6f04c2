/** Shards are verified against the manifest's sha256 before the reader uses them (issue 12). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDataset, prepareDataset, type ImageBatch, type Manifest } from '../src';
import { CLI, listShards, makeFolderTree, REPO_ROOT, rmDir, tmpDir } from './fixtures';

let root: string;
let out: string;
let manifest: Manifest;

beforeAll(async () => {
  root = tmpDir('verify');
  await makeFolderTree(path.join(root, 'src'), { categories: ['ant', 'bee', 'cat'], sketches: 8, photos: 6 });
  out = path.join(root, 'out');
  manifest = await prepareDataset({
    dataset: 'folder',
    root: path.join(root, 'src'),
    out,
    size: 8,
    shardRows: 10,
    batchRows: 5,
    queriesPerCategory: 2,
  });
});
afterAll(() => rmDir(root));

async function drain(it: AsyncIterable<ImageBatch>): Promise<number> {
  let n = 0;
  for await (const b of it) n += b.n;
  return n;
}

test('a flipped shard byte fails the reader with one line naming the shard and the repair command, which repairs it', async () => {
  const ds = openDataset(out);
  await ds.verify(); // good data passes (and is cached for this process)
  const rows = await drain(ds.batches({ subset: 'train', batchSize: 4 }));
  const before = listShards(out);

  const victim = path.join(out, manifest.shards[0].file);
  const bytes = fs.readFileSync(victim);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  fs.writeFileSync(victim, bytes); // same size: only the digest can tell
  const again = openDataset(out); // size check passes
  const oneLine = new RegExp(
    `^shard ${victim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not match its sha256 in the manifest \\(corrupt\\); repair: npx nx run data:prepare -- --dataset folder .*--out ${out}$`,
  );
  await expect(again.verify()).rejects.toThrow(oneLine);
  await expect(drain(again.batches({ subset: 'train', batchSize: 4 }))).rejects.toThrow(oneLine);
  // verification is per shard: the gallery's shards are intact and still read
  expect(await drain(again.batches({ subset: 'gallery', batchSize: 4 }))).toBe(
    manifest.subsetCounts.gallery.photo,
  );

  // the command from the message, run as given (after `npx nx run data:prepare --`): verifies and rebuilds
  const message = await again.verify().then(
    () => '',
    (e: Error) => e.message,
  );
  const args = message.slice(message.indexOf('data:prepare -- ') + 'data:prepare -- '.length).split(' ');
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'prepare', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  expect(r.stderr).toContain(`${manifest.shards[0].file}: checksum mismatch, rebuilding`);
  expect(r.stderr).toContain(`kept ${manifest.shards.length - 1} verified shard(s), 1 to build`);
  expect(listShards(out)).toEqual(before);
  await openDataset(out).verify();
  expect(await drain(openDataset(out).batches({ subset: 'train', batchSize: 4 }))).toBe(rows);
}, 60000);
