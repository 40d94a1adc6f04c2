/** Class vectors attached to a prepared dataset (src/vectors/attach.ts) and the CLI's coverage line. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  attachClassVectors,
  DataError,
  loadManifest,
  parseNpyHeader,
  prepareDataset,
  readClassVectors,
} from '../src';
import { ensureDefaultWordVectors } from '../src/vectors/default';
import { CLI, makeFolderTree, REPO_ROOT, rmDir, tmpDir } from './fixtures';
import { gloveText, word2vecBinary, write, type Vocab } from './word-vector-files';

const CLASSES = ['car_(sedan)', 'jack-o-lantern', 'teddy-bear', 'zzz'];
const VOCAB: Vocab = {
  car: [3, 0, 0, 0],
  teddy_bear: [0, 0.5, 0, 0],
  pumpkin: [0, 0, 1, 1],
  lantern: [0, 0, 1, -1],
};

let root: string;
let data: string;
beforeAll(async () => {
  root = tmpDir('class-vectors');
  await makeFolderTree(path.join(root, 'src'), { categories: CLASSES, sketches: 3, photos: 3, size: 8 });
  data = path.join(root, 'prepared');
  await prepareDataset({
    dataset: 'folder',
    root: path.join(root, 'src'),
    out: data,
    size: 8,
    queriesPerCategory: 1,
  });
}, 60000);
afterAll(() => rmDir(root));

/** Every file in the folder with its bytes, to prove that a failure wrote nothing. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    fs.readdirSync(dir).map((n) => [n, fs.readFileSync(path.join(dir, n)).toString('base64')]),
  );
}

async function rejects(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DataError);
  return err as Error;
}

test('a class without any vector is an error naming the class and its tokens; nothing is written', async () => {
  const file = write(path.join(root, 'small.txt'), gloveText(VOCAB));
  const before = snapshot(data);
  const err = await rejects(attachClassVectors(data, { wordVectors: file }));
  expect(err.message).toBe(
    `word vectors ${file}: no vector for class "zzz" (tokens "zzz"); pass --allow-missing-vectors to write zero rows listed in missingClasses`,
  );
  expect(snapshot(data)).toEqual(before);
});

test('attach + read: rows in class order, coverage, manifest record, digests checked', async () => {
  const file = write(path.join(root, 'small.w2v'), word2vecBinary(VOCAB));
  const coverage = await attachClassVectors(data, { wordVectors: file, allowMissing: true });
  expect(coverage).toMatchObject({
    source: file,
    format: 'word2vec',
    dim: 4,
    sourceRows: 4,
    missingClasses: ['zzz'],
  });
  expect(coverage.missingTokens).toEqual([
    { category: 'car_(sedan)', tokens: ['sedan'] },
    { category: 'zzz', tokens: ['zzz'] },
  ]);
  const jack = coverage.classes.find((c) => c.category === 'jack-o-lantern')!;
  expect(jack.alias?.tokens).toEqual(['pumpkin', 'lantern']);
  expect(jack.found.map((f) => f.word)).toEqual(['pumpkin', 'lantern']);

  const m = loadManifest(data);
  expect(m.classes).toEqual([...CLASSES].sort());
  expect(m.classVectors).toMatchObject({
    file: 'class-vectors.npy',
    coverageFile: 'class-vectors.json',
    format: 'word2vec',
    dim: 4,
  });
  const cv = readClassVectors(data);
  expect(cv.sha256).toBe(m.classVectors!.sha256);
  expect(cv.coverage).toEqual(coverage);
  const row = (c: string) => [...cv.data.subarray(cv.classes.indexOf(c) * 4, cv.classes.indexOf(c) * 4 + 4)];
  expect(row('car_(sedan)')).toEqual([1, 0, 0, 0]);
  expect(row('jack-o-lantern')).toEqual([0, 0, 1, 0]); // mean (0, 0, 1, 0), already unit length
  expect(row('teddy-bear')).toEqual([0, 1, 0, 0]);
  expect(row('zzz')).toEqual([0, 0, 0, 0]); // allowMissing: the zero row, listed in missingClasses

  const npyFile = path.join(data, 'class-vectors.npy');
  const npy = fs.readFileSync(npyFile);
  expect(parseNpyHeader(npy)).toMatchObject({ descr: '<f4', shape: [4, 4] });
  const tampered = Buffer.from(npy);
  tampered[tampered.length - 1] ^= 1;
  fs.writeFileSync(npyFile, tampered);
  expect(() => readClassVectors(data)).toThrow(
    new RegExp(`^${npyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: sha256:[0-9a-f]{64} does not match`),
  );
  fs.writeFileSync(npyFile, npy);
  expect(readClassVectors(data).sha256).toBe(m.classVectors!.sha256);
});

test('an empty class name is an error naming the manifest and the class', async () => {
  const copy = path.join(root, 'empty-name');
  fs.cpSync(data, copy, { recursive: true });
  const mf = path.join(copy, 'manifest.json');
  const m = JSON.parse(fs.readFileSync(mf, 'utf8')) as { classes: string[] };
  m.classes[2] = '_';
  fs.writeFileSync(mf, JSON.stringify(m));
  const err = await rejects(attachClassVectors(copy, { wordVectors: path.join(root, 'small.txt') }));
  expect(err.message).toBe(`${mf}: classes[2] "_" is an empty class name (no word to look up)`);
});

test('CLI data:vectors prints one coverage line; a bad file exits 2 with one line and writes nothing', () => {
  const cli = (...argv: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', CLI, 'vectors', '--dir', data, ...argv], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
  const file = path.join(root, 'small.txt');
  const ok = cli('--word-vectors', file, '--allow-missing-vectors');
  expect(ok.stderr).toBe('');
  expect(ok.status).toBe(0);
  expect(ok.stdout).toBe(
    `class vectors: 3/4 classes, 2 tokens without a vector (car_(sedan): sedan; zzz: zzz), zero rows for 1 class without any vector (zzz), glove 4-d from ${file} -> ${path.join(data, 'class-vectors.json')}\n`,
  );
  const before = snapshot(data);
  const bad = write(path.join(root, 'bad.txt'), 'car 1 2 3 4\nteddy_bear 1 2\n');
  const r = cli('--word-vectors', bad);
  expect(r.status).toBe(2);
  expect(r.stderr).toBe(`error: word vectors ${bad}: line 2: 2 numbers, expected 4 (line 1's dimension)\n`);
  expect(r.stdout).toBe('');
  expect(snapshot(data)).toEqual(before);
}, 60000);

test('CLI data:prepare --word-vectors attaches after preparing; a missing file fails before preparing', () => {
  const cli = (...argv: string[]) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        CLI,
        'prepare',
        '--dataset',
        'folder',
        '--root',
        path.join(root, 'src'),
        '--size',
        '8',
        '--quiet',
        ...argv,
      ],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
  const out = path.join(root, 'prepared-cli');
  const ok = cli('--out', out, '--word-vectors', path.join(root, 'small.txt'), '--allow-missing-vectors');
  expect(ok.stderr).toBe('');
  expect(ok.stdout).toMatch(/^class vectors: 3\/4 classes, .* -> .*class-vectors\.json\n$/);
  expect(loadManifest(out).classVectors?.dim).toBe(4);
  const none = path.join(root, 'none.txt');
  const r = cli('--out', path.join(root, 'never'), '--word-vectors', none);
  expect(r.status).toBe(2);
  expect(r.stderr).toBe(`error: option --word-vectors: no such file: ${none} (or give glove-6b-50d)\n`);
  expect(fs.existsSync(path.join(root, 'never'))).toBe(false);
}, 60000);

test('the default is installed by scripts/word-vectors.sh on first use, once; a failing install names the script', async () => {
  const fake = path.join(root, 'fake-repo');
  fs.mkdirSync(path.join(fake, 'scripts'), { recursive: true });
  const script = path.join(fake, 'scripts', 'word-vectors.sh');
  fs.writeFileSync(
    script,
    'set -e; echo run >> runs.log; mkdir -p .venv/share/word-vectors; printf x > .venv/share/word-vectors/glove-6b-50d.bin\n',
  );
  const lines: string[] = [];
  const file = await ensureDefaultWordVectors((l) => lines.push(l), fake);
  expect(file).toBe(path.join(fake, '.venv', 'share', 'word-vectors', 'glove-6b-50d.bin'));
  expect(await ensureDefaultWordVectors((l) => lines.push(l), fake)).toBe(file);
  expect(fs.readFileSync(path.join(fake, 'runs.log'), 'utf8')).toBe('run\n');
  expect(lines).toEqual([expect.stringMatching(/^installing the default word vectors glove-6b-50d /)]);
  fs.rmSync(path.join(fake, '.venv'), { recursive: true });
  fs.writeFileSync(script, 'echo "[word-vectors] pip: no network" >&2; exit 3\n');
  const err = await rejects(ensureDefaultWordVectors(() => undefined, fake));
  expect(err.message).toBe(`${script} failed (exit 3): [word-vectors] pip: no network`);
});
