/**
 * Checkpoint readers against files written by PyTorch (torch.save, zip and legacy formats) and by
 * safetensors, compared with the values those libraries hold; the restricted unpickler refuses code.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PickleError, unpickle } from '../src/import/pickle';
import { readSafetensors } from '../src/import/safetensors';
import { CheckpointError, SourceCheckpoint } from '../src/import/source';
import { readTorch } from '../src/import/torch';
import { PYTHON, runPython, tmpDir } from './import-fixtures';

type Expected = Record<string, { shape: number[]; values: number[] }>;

function expectSame(ck: SourceCheckpoint, expected: Expected): void {
  expect(ck.tensors.map((t) => t.key)).toEqual(Object.keys(expected));
  for (const t of ck.tensors) {
    const e = expected[t.key]!;
    expect({ key: t.key, shape: t.shape }).toEqual({ key: t.key, shape: e.shape });
    expect(Array.from(t.read())).toEqual(e.values.map(Math.fround));
  }
}

describe('torch.save files', () => {
  let dir: string;
  let expected: Expected;
  beforeAll(() => {
    dir = tmpDir('torch-fixtures');
    runPython('import_fixtures.py', [dir, 'torch']);
    expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const read = (name: string, key?: string): SourceCheckpoint =>
    readTorch(name, fs.readFileSync(path.join(dir, name)), { key });

  it.each([
    ['plain.pth', 'torch-zip'],
    ['legacy.pth', 'torch-legacy'],
  ])('%s: every dtype, strided views and a Parameter read as PyTorch holds them', (name, format) => {
    const ck = read(name);
    expect(ck.format).toBe(format);
    expectSame(ck, expected);
    const dtypes = Object.fromEntries(ck.tensors.map((t) => [t.key, t.dtype]));
    expect(dtypes).toMatchObject({
      'bn.weight': 'float16',
      'bn.bias': 'bfloat16',
      'bn.running_mean': 'float64',
      'bn.num_batches_tracked': 'int64',
    });
  });

  it('a nested dict is taken by its known key with a note, or by --key', () => {
    const ck = read('nested.pth');
    expect(ck.notes.join(' ')).toMatch(/took the nested dict "state_dict"/);
    expectSame(ck, expected);
    expectSame(read('nested.pth', 'state_dict'), expected);
    expect(() => read('nested.pth', 'optimizer')).toThrow(
      /nested\.pth: --key optimizer: no such nested dict \(keys: state_dict, epoch, arch\)/,
    );
  });

  it('a pickle calling os.system is refused without running it (and does run under plain pickle)', () => {
    const marker = path.join(dir, 'PWNED');
    expect(() => read('evil.pth')).toThrow(CheckpointError);
    expect(() => read('evil.pth')).toThrow(/^evil\.pth: pickle GLOBAL posix\.system is not allowed/);
    expect(fs.existsSync(marker)).toBe(false);
    // The fixture is really malicious: PyTorch's unrestricted loader executes it (torch >= 2.6 loads
    // weights only by default, so the unrestricted loader has to be asked for).
    const r = spawnSync(PYTHON, [
      '-c',
      `import torch; torch.load(${JSON.stringify(path.join(dir, 'evil.pth'))}, weights_only=False)`,
    ]);
    expect(r.status).toBe(0);
    expect(fs.existsSync(marker)).toBe(true);
  });

  it('object-building opcodes and globals outside the allow-list are errors naming them', () => {
    const load = { persistentLoad: () => null };
    const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
    expect(() => unpickle(bytes('\x80\x02cbuiltins\neval\n.'), load)).toThrow(
      /GLOBAL builtins\.eval is not allowed/,
    );
    expect(() => unpickle(bytes('\x80\x02(ios\nsystem\n.'), load)).toThrow(/opcode 0x69 \("i"\) at byte 3/);
    expect(() => unpickle(bytes('\x80\x02ccollections\nOrderedDict\n)\x81.'), load)).toThrow(/opcode 0x81/);
    expect(() => unpickle(bytes('\x80\x02K\x01'), load)).toThrow(PickleError);
    expect(unpickle(bytes('\x80\x02}q\x00(X\x01\x00\x00\x00aK\x07u.'), load).value).toMatchObject({
      map: new Map([['a', 7]]),
    });
  });
});

describe('safetensors files', () => {
  let dir: string;
  let file: string;
  let expected: Expected;
  beforeAll(() => {
    dir = tmpDir('st-fixtures');
    runPython('import_fixtures.py', [dir, 'safetensors']);
    file = path.join(dir, 'model.safetensors');
    expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected-st.json'), 'utf8')) as Expected;
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads every tensor and dtype as safetensors.numpy wrote it', () => {
    const ck = readSafetensors('model.safetensors', fs.readFileSync(file));
    const byKey = Object.fromEntries(ck.tensors.map((t) => [t.key, t]));
    expect(Object.keys(byKey).sort()).toEqual(Object.keys(expected).sort());
    for (const [k, e] of Object.entries(expected)) {
      expect(byKey[k]!.shape).toEqual(e.shape);
      expect(Array.from(byKey[k]!.read())).toEqual(e.values.map(Math.fround));
    }
    expect(byKey['bn.weight']!.dtype).toBe('float16');
  });

  it('a flipped header byte, a wrong shape and a truncated file are one-line errors', () => {
    const buf = fs.readFileSync(file);
    const flipped = Buffer.from(buf);
    flipped[8] ^= 0xff; // the header's opening brace
    expect(() => readSafetensors('f.safetensors', flipped)).toThrow(
      /^f\.safetensors: header is not valid JSON/,
    );
    const n = Number(buf.readBigUInt64LE(0));
    const header = buf.subarray(8, 8 + n).toString('utf8');
    const reshaped = Buffer.from(buf);
    reshaped.write(header.replace('"shape":[4,6]', '"shape":[4,7]'), 8, 'utf8');
    expect(() => readSafetensors('s.safetensors', reshaped)).toThrow(
      /^s\.safetensors: tensor "fc\.weight": data_offsets span 96 bytes, shape \[4, 7\] F32 needs 112$/,
    );
    const cut = buf.subarray(0, buf.length - 10);
    expect(() => readSafetensors('t.safetensors', cut)).toThrow(
      /^t\.safetensors: tensor "[^"]+": data ends at byte \d+/,
    );
  });
});
