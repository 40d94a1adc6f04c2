import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, prepareDataset } from '../src';
import { io } from '../src/io';
import { CLI, makeFolderTree, REPO_ROOT, rmDir, tmpDir, writeImage } from './fixtures';

let root: string;
let src: string;
beforeAll(async () => {
  root = tmpDir('errors');
  src = path.join(root, 'src');
  await makeFolderTree(src, { categories: ['a', 'b'], sketches: 4, photos: 2, size: 16 });
});
afterAll(() => rmDir(root));
afterEach(() => jest.restoreAllMocks());

const cli = (...argv: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', CLI, ...argv], { cwd: REPO_ROOT, encoding: 'utf8' });
const prep = (over: Record<string, unknown> = {}) =>
  prepareDataset({
    dataset: 'folder',
    root: src,
    out: path.join(root, 'out', String(Math.random()).slice(2)),
    size: 8,
    queriesPerCategory: 1,
    ...over,
  });

/** A copy of the fixture tree that a test may damage. */
function copyTree(name: string): string {
  const dst = path.join(root, name);
  fs.cpSync(src, dst, { recursive: true });
  return dst;
}

test('CLI: missing root and unknown dataset are one-line errors with a non-zero exit code', () => {
  const a = cli(
    'prepare',
    '--dataset',
    'folder',
    '--root',
    path.join(root, 'nope'),
    '--out',
    path.join(root, 'x'),
  );
  expect(a.status).not.toBe(0);
  expect(a.stderr).toBe(`error: option --root: directory not found: ${path.join(root, 'nope')}\n`);
  const b = cli('prepare', '--dataset', 'imagenet', '--out', path.join(root, 'y'));
  expect(b.status).not.toBe(0);
  expect(b.stderr).toMatch(
    /^error: unknown dataset "imagenet" \(option --dataset\); known datasets: emoji, folder, quickdraw, sketchy, tuberlin\n$/,
  );
  expect(fs.existsSync(path.join(root, 'y'))).toBe(false);
});

test('empty category folder is an error naming the folder', async () => {
  const dir = copyTree('empty');
  fs.mkdirSync(path.join(dir, 'sketch', 'c'));
  fs.mkdirSync(path.join(dir, 'photo', 'c'));
  await expect(prep({ root: dir })).rejects.toThrow(
    `empty category folder (no image files): ${path.join(dir, 'sketch', 'c')}`,
  );
});

test('categories that differ between sketch and photo sets are named', async () => {
  const dir = copyTree('differ');
  await writeImage(path.join(dir, 'sketch', 'zebra', '0.png'));
  await writeImage(path.join(dir, 'photo', 'yak', '0.jpg'));
  await expect(prep({ root: dir })).rejects.toThrow(
    /categories differ between sketch set .* and photo set .*: only in sketches: zebra; only in photos: yak/,
  );
});

test('corrupt and non-image files are skipped and counted, or fatal with --strict (no manifest left)', async () => {
  const dir = copyTree('corrupt');
  fs.writeFileSync(path.join(dir, 'photo', 'a', 'broken.jpg'), Buffer.from('this is not a jpeg at all'));
  const png = fs.readFileSync(path.join(dir, 'sketch', 'b', 's001.png'));
  fs.writeFileSync(path.join(dir, 'sketch', 'b', 's001.png'), png.subarray(0, 40)); // truncated
  fs.writeFileSync(path.join(dir, 'sketch', 'a', 'notes.txt'), 'hello');
  const m = await prep({ root: dir });
  expect(m.skipped.total).toBe(3);
  expect(m.skipped.byReason).toEqual({ 'not an image file extension': 1, 'corrupt or unreadable image': 2 });
  expect(m.skipped.files.map((f) => f.source).sort()).toEqual([
    'photo/a/broken.jpg',
    'sketch/a/notes.txt',
    'sketch/b/s001.png',
  ]);
  expect(m.counts.gallery.photo + m.counts.train.sketch + m.counts.query.sketch).toBe(12 + 1 - 2); // 12 good files + broken.jpg, 2 unreadable

  const out = path.join(root, 'strict-out');
  await expect(prep({ root: dir, out, strict: true })).rejects.toThrow(
    `not an image file: ${path.join(dir, 'sketch', 'a', 'notes.txt')}`,
  );
  fs.rmSync(path.join(dir, 'sketch', 'a', 'notes.txt'));
  const err = await prep({ root: dir, out, strict: true }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DataError);
  expect((err as Error).message).toMatch(
    new RegExp(
      `^corrupt or non-image file: ${path.join(dir, '(photo/a/broken.jpg|sketch/b/s001.png)')} \\(.+\\)$`,
    ),
  );
  expect((err as Error).message).not.toContain('\n');
  expect(fs.existsSync(path.join(out, 'manifest.json'))).toBe(false);
  expect(fs.readdirSync(out).filter((n) => n.includes('.tmp-'))).toEqual([]);
});

test('disk full (ENOSPC) surfaces as one line, removes temp files and leaves no manifest', async () => {
  const real = io.open;
  let written = 0;
  jest.spyOn(io, 'open').mockImplementation(async (file, flags) => {
    const fh = await real(file, flags);
    const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
    (fh as unknown as { write: unknown }).write = async (...a: unknown[]) => {
      written += (a[0] as Uint8Array).byteLength;
      if (written > 3000)
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
          code: 'ENOSPC',
          errno: -28,
        });
      return write(...a);
    };
    return fh;
  });
  const out = path.join(root, 'full');
  const err = await prep({ out }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DataError);
  expect((err as Error).message).toMatch(
    /^no space left on device while writing .*shard-00000\.arrow \(temporary files removed\)$/,
  );
  expect(fs.readdirSync(out).filter((n) => n.includes('.tmp-') || n === 'manifest.json')).toEqual([]);
});

test('option errors name the option', async () => {
  await expect(prep({ size: 0 })).rejects.toThrow('option --size: expected a positive integer, got 0');
  await expect(prep({ extraPhotos: root })).rejects.toThrow(
    'option --extra-photos is not used by dataset "folder"',
  );
  await expect(prep({ dataset: 'emoji' })).rejects.toThrow(
    'option --root is not used by dataset "emoji" (it is embedded)',
  );
  await expect(prep({ split: 'zeroshot', splitFile: 'x.json' })).rejects.toThrow(
    /option --split-file applies to --split category/,
  );
  const foreign = path.join(root, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'thesis.tex'), '');
  await expect(prep({ out: foreign })).rejects.toThrow(
    /option --out: .*foreign is not empty and holds no prepared dataset \(found thesis.tex\)/,
  );
});
