/** Word-vector files (src/vectors/formats.ts) and class-name tokenisation (src/vectors/tokens.ts). */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, detectFormat, planClassTokens, readWordVectors } from '../src';
import { defaultVectorsFile } from '../src/vectors/default';
import { resolveClass, wordsToRead } from '../src/vectors/tokens';
import { rmDir, tmpDir } from './fixtures';
import { bigVocab, fastTextVec, gloveText, word2vecBinary, write, type Vocab } from './word-vector-files';

let dir: string;
beforeAll(() => {
  dir = tmpDir('word-vectors');
});
afterAll(() => rmDir(dir));

const VOCAB: Vocab = {
  the: [0.5, -1, 0.25],
  car: [1, 0, 0],
  sedan: [0, 2, 0],
  teddy_bear: [0, 0, 3],
  café: [-0.125, 0.75, 1.5],
};

function allThree(vocab: Vocab, tag: string): string[] {
  // extensions that lie: the format comes from the bytes
  return [
    write(path.join(dir, `${tag}-glove.bin`), gloveText(vocab)),
    write(path.join(dir, `${tag}-w2v.txt`), word2vecBinary(vocab)),
    write(path.join(dir, `${tag}-ft.txt`), fastTextVec(vocab)),
  ];
}

test('the three formats are detected from their bytes and give the same vectors', async () => {
  const files = allThree(VOCAB, 'same');
  const wanted = new Set(['car', 'teddy_bear', 'café', 'absent']);
  const reads = await Promise.all(files.map((f) => readWordVectors(f, wanted)));
  expect(reads.map((r) => r.format)).toEqual(['glove', 'word2vec', 'fasttext']);
  for (const r of reads) {
    expect(r.dim).toBe(3);
    expect(r.rows).toBe(5);
    expect([...r.vectors.keys()].sort()).toEqual(['car', 'café', 'teddy_bear'].sort());
    for (const w of r.vectors.keys()) expect([...r.vectors.get(w)!]).toEqual(VOCAB[w]);
    const digest = createHash('sha256').update(fs.readFileSync(r.file)).digest('hex');
    expect(r.sha256).toBe(`sha256:${digest}`);
  }
});

test('detectFormat reads the header and the first row', () => {
  expect(detectFormat(Buffer.from('a 1 2\n'), 'f')).toEqual({ format: 'glove' });
  expect(detectFormat(Buffer.from('2 2\na 1 2 \n'), 'f')).toEqual({
    format: 'fasttext',
    header: { count: 2, dim: 2 },
  });
  expect(detectFormat(word2vecBinary({ a: [1, 2] }), 'f')).toEqual({
    format: 'word2vec',
    header: { count: 1, dim: 2 },
  });
  expect(() => detectFormat(Buffer.from('hello world\n'), 'f.txt')).toThrow(
    /^word vectors f\.txt: line 1: not a word-vector file/,
  );
  expect(() => detectFormat(Buffer.from([0x1f, 0x8b, 8, 0]), 'f.gz')).toThrow(/gzip-compressed/);
});

test('large files stream in chunks: rows across chunk boundaries, binary without newlines', async () => {
  const vocab = bigVocab(4000, 100); // ~2.3 MB of text, 1.6 MB binary: several 1 MiB chunks
  const wanted = new Set(['w0', 'w1234', 'w2621', 'w3999']);
  const files = [
    ...allThree(vocab, 'big'),
    write(path.join(dir, 'big-w2v-nonl'), word2vecBinary(vocab, { newline: false })),
  ];
  for (const f of files) {
    const r = await readWordVectors(f, wanted);
    expect(r.rows).toBe(4000);
    expect(r.vectors.size).toBe(4);
    for (const w of wanted) expect([...r.vectors.get(w)!]).toEqual(vocab[w]);
  }
});

test('a GloVe row whose word holds a space (GloVe 840B) is read, not taken for a mismatch', async () => {
  const f = write(path.join(dir, 'spaces.txt'), 'a 1 2\n. . . 3 4\nb 5 6\n');
  const r = await readWordVectors(f, new Set(['. . .', 'b']));
  expect([...r.vectors.get('. . .')!]).toEqual([3, 4]);
  expect(r.rows).toBe(3);
});

describe('bad files: one line naming the file and the line or word', () => {
  async function error(name: string, data: string | Buffer): Promise<string> {
    const f = write(path.join(dir, name), data);
    const err = await readWordVectors(f, new Set(['car'])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataError);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    expect(msg).toContain(f);
    return msg;
  }

  test('truncated word2vec binary', async () => {
    const full = word2vecBinary(VOCAB);
    expect(await error('trunc.bin', full.subarray(0, full.length - 6))).toMatch(
      /: word 5: truncated: the header announces 5 words of dimension 3, the file ends inside word 5 \(after "teddy_bear"\)/,
    );
  });

  test('dimension mismatch between GloVe rows, with the fastText header, with the word2vec header', async () => {
    expect(await error('mismatch.txt', 'car 1 2 3\nsedan 1 2\n')).toMatch(
      /: line 2: 2 numbers, expected 3 \(line 1's dimension\)/,
    );
    expect(await error('mismatch.vec', '2 4\ncar 1 2 3\nsedan 1 2 3\n')).toMatch(
      /: line 2: 3 numbers, expected 4 \(the header's dimension\)/,
    );
    expect(await error('mismatch-long.txt', 'car 1 2\nsedan 1 2 3\n')).toMatch(
      /: line 2: 3 numbers, expected 2/,
    );
    expect(await error('mismatch.bin', word2vecBinary(VOCAB, { headerDim: 4 }))).toMatch(
      /: word \d+ \(after "\w+"\): .*a header dimension \(4\) that does not match the rows gives this error too/,
    );
  });

  test('bytes that are not UTF-8', async () => {
    const text = Buffer.concat([Buffer.from('car 1 2\ncaf'), Buffer.from([0xe9]), Buffer.from(' 3 4\n')]);
    expect(await error('latin1.txt', text)).toMatch(/: line 2: not UTF-8 text \(bytes 63 61 66 e9/);
    const bin = word2vecBinary({ car: [1, 2], cafX: [3, 4] });
    bin[bin.indexOf('cafX') + 3] = 0xe9;
    expect(await error('latin1.bin', bin)).toMatch(
      /: word 2 \(after "car"\): not UTF-8 \(bytes 63 61 66 e9\)/,
    );
  });

  test('not a number, a wrong row count, an empty file', async () => {
    expect(await error('nan.txt', 'x 1 2\ncar 1 zz\n')).toMatch(/: line 2: "zz" is not a number/);
    expect(await error('count.vec', '3 2\ncar 1 2\nsedan 1 2\n')).toMatch(
      /the header announces 3 rows, the file has 2/,
    );
    expect(
      await error('extra.bin', Buffer.concat([word2vecBinary({ car: [1, 2] }), Buffer.from('junk')])),
    ).toMatch(/after word 1: more bytes than the 1 words x 2 floats the header announces/);
    expect(await error('empty.txt', '')).toMatch(/the file is empty/);
  });
});

describe('class names -> tokens -> one L2-normalised vector', () => {
  const vectors = new Map(Object.entries(VOCAB).map(([w, v]) => [w, Float32Array.from(v)]));

  test('split tokens are averaged; tokens without a vector are reported', () => {
    const plan = planClassTokens('car_(sedan)')!;
    expect(plan.tokens).toEqual(['car', 'sedan']);
    expect(plan.whole).toEqual(['car_(sedan)', 'car_sedan', 'car-sedan', 'carsedan']);
    const { coverage, vector } = resolveClass(plan, vectors, 3);
    expect(coverage.found.map((f) => f.word)).toEqual(['car', 'sedan']);
    expect([...vector!].map((x) => +x.toFixed(6))).toEqual([
      +(1 / Math.sqrt(5)).toFixed(6),
      +(2 / Math.sqrt(5)).toFixed(6),
      0,
    ]);
    const oov = resolveClass(planClassTokens('sports-car')!, vectors, 3);
    expect(oov.coverage.missing).toEqual(['sports']);
    expect([...oov.vector!]).toEqual([1, 0, 0]);
  });

  test('the whole name first (word2vec phrases), lower case as a fallback, stop words dropped', () => {
    const whole = resolveClass(planClassTokens('teddy-bear')!, vectors, 3);
    expect(whole.coverage.found).toEqual([{ token: 'teddy-bear', word: 'teddy_bear' }]);
    expect([...whole.vector!]).toEqual([0, 0, 1]);
    const cased = resolveClass(planClassTokens('Car (Sedan)')!, vectors, 3);
    expect(cased.coverage.found).toEqual([
      { token: 'Car', word: 'car' },
      { token: 'Sedan', word: 'sedan' },
    ]);
    expect(planClassTokens('flower with stem')!.tokens).toEqual(['flower', 'stem']);
    expect(planClassTokens('sky & weather')!.tokens).toEqual(['sky', 'weather']);
    expect(planClassTokens('animal-mammal')!.tokens).toEqual(['animal', 'mammal']);
  });

  test('the alias table replaces a hard name, with its reason', () => {
    const plan = planClassTokens('jack-o-lantern')!;
    expect(plan.alias?.tokens).toEqual(['pumpkin', 'lantern']);
    expect(plan.alias?.reason).toMatch(/Sketchy/);
    expect(plan.whole).toEqual([]);
    expect(wordsToRead([plan])).toEqual(new Set(['pumpkin', 'lantern']));
  });

  test('no vector at all is null, never a zero vector; an empty name has no plan', () => {
    expect(resolveClass(planClassTokens('zzz_yyy')!, vectors, 3)).toEqual({
      coverage: {
        category: 'zzz_yyy',
        alias: null,
        tokens: ['zzz', 'yyy'],
        found: [],
        missing: ['zzz', 'yyy'],
      },
      vector: null,
    });
    const zero = new Map([['nil', new Float32Array(3)]]);
    expect(resolveClass(planClassTokens('nil')!, zero, 3).vector).toBeNull();
    for (const empty of ['', '  ', '_', '()', '-_-']) expect(planClassTokens(empty)).toBeNull();
  });
});

test('the real glove-6b-50d resolves the standard datasets’ hard names', async () => {
  const file = defaultVectorsFile();
  if (!fs.existsSync(file)) {
    if (process.env.CI === 'true')
      throw new Error(`${file} missing: run bash scripts/word-vectors.sh (CI must install it)`);
    console.warn(`skipped: ${file} not installed (bash scripts/word-vectors.sh installs it)`);
    return;
  }
  const names = [
    'teddy-bear',
    'car_(sedan)',
    'hot-air_balloon',
    'jack-o-lantern',
    'sponge bob',
    'pickup_truck',
    'jellyfish',
    'animal-mammal',
    'face-smiling',
    'keycap',
    'alphanum',
  ];
  const plans = names.map((n) => planClassTokens(n)!);
  const read = await readWordVectors(file, wordsToRead(plans));
  expect(read).toMatchObject({ format: 'word2vec', dim: 50, rows: 400000 });
  const got = Object.fromEntries(plans.map((p) => [p.category, resolveClass(p, read.vectors, 50)]));
  for (const n of names) expect({ n, missing: got[n].coverage.missing }).toEqual({ n, missing: [] });
  expect(got['sponge bob'].coverage.found).toEqual([{ token: 'sponge bob', word: 'spongebob' }]);
  const cos = (a: string, b: string) => got[a].vector!.reduce((s, x, i) => s + x * got[b].vector![i], 0);
  expect(cos('car_(sedan)', 'pickup_truck')).toBeGreaterThan(cos('car_(sedan)', 'jellyfish'));
}, 60000);
