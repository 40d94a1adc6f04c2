import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AtomicFile,
  activeTempFiles,
  copyFileAtomicSync,
  isTempName,
  tempName,
  writeFileAtomic,
  writeFileAtomicSync,
  writeJsonAtomicSync,
} from '../src';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-core-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('sync form: replaces the file, leaves no temp file, creates the folder unless told not to', () => {
  const file = path.join(dir, 'a', 'b.json');
  expect(() => writeFileAtomicSync(file, 'x', { mkdir: false })).toThrow(/ENOENT/);
  expect(fs.readdirSync(dir)).toEqual([]);
  writeFileAtomicSync(file, 'one');
  writeJsonAtomicSync(file, { n: 2 });
  expect(fs.readFileSync(file, 'utf8')).toBe('{\n  "n": 2\n}\n');
  expect(fs.readdirSync(path.dirname(file))).toEqual(['b.json']);
});

test('sync form: a failed write removes the temp file and keeps the old content', () => {
  const file = path.join(dir, 'keep.txt');
  writeFileAtomicSync(file, 'old');
  fs.mkdirSync(tempName(file, 'busy')); // the temp name is taken by a folder: open fails
  expect(() => writeFileAtomicSync(file, 'new', { tag: 'busy' })).toThrow();
  expect(fs.readFileSync(file, 'utf8')).toBe('old');
});

test('copy: the target holds the source bytes', () => {
  const src = path.join(dir, 'src.bin');
  fs.writeFileSync(src, Buffer.from([1, 2, 3]));
  copyFileAtomicSync(src, path.join(dir, 'out', 'dst.bin'));
  expect([...fs.readFileSync(path.join(dir, 'out', 'dst.bin'))]).toEqual([1, 2, 3]);
});

test('async form: visible only after commit; abort removes the temp file', async () => {
  const file = path.join(dir, 'big.bin');
  const f = await AtomicFile.create(file);
  await f.write(new Uint8Array(10));
  f.syncSoon();
  expect(fs.existsSync(file)).toBe(false);
  expect(activeTempFiles.has(f.tmp)).toBe(true);
  await f.commit();
  expect(fs.statSync(file).size).toBe(10);
  expect(activeTempFiles.size).toBe(0);

  const g = await AtomicFile.create(path.join(dir, 'gone.bin'));
  await g.abort();
  expect(fs.readdirSync(dir)).toEqual(['big.bin']);
  await writeFileAtomic(path.join(dir, 's.txt'), 'text');
  expect(fs.readFileSync(path.join(dir, 's.txt'), 'utf8')).toBe('text');
});

test('async form: write errors go through the wrapper', async () => {
  const wrap = (err: unknown, file: string) =>
    new Error(`cannot write ${path.basename(file)}: ${(err as Error).message}`);
  await expect(writeFileAtomic(path.join(dir, 'missing', 'x'), 'x', wrap)).rejects.toThrow(
    /^cannot write x: ENOENT/,
  );
});

test('temp names', () => {
  expect(isTempName(path.basename(tempName('/a/b.json')))).toBe(true);
  expect(isTempName('b.json.tmp-abc')).toBe(false);
});
