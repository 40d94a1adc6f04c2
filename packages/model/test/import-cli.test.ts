/**
 * `model import` as a user runs it (a child process: h5wasm is an ES module that jest's module
 * system cannot load, Node's own require can): Keras h5 files written by h5py, exit codes and the
 * one-line errors.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fromTorchLayout } from '../src/import/layout';
import { loadTensorDir } from '../src/tensorfile';
import { useNativeBackend } from './helpers';
import { listDir, runCli, runPython, tmpDir, writeTargets } from './import-fixtures';

const ARCH = 'resnet-tiny';
let dir: string;
let targets: { name: string; shape: number[] }[];
let values: Float32Array;
let torchShapes: { name: string; torchShape: number[] }[];

beforeAll(async () => {
  await useNativeBackend();
  dir = tmpDir('import-cli');
  targets = writeTargets(dir, ARCH);
  runPython('import_fixtures.py', [dir, 'tiny-torch', 'tiny-h5']);
  values = new Float32Array(fs.readFileSync(path.join(dir, 'tiny-values.bin')).buffer.slice(0));
  torchShapes = JSON.parse(fs.readFileSync(path.join(dir, 'targets.json'), 'utf8'));
}, 180_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('model import (CLI)', () => {
  it.each(['tiny-keras2.h5', 'tiny-keras3.weights.h5'])(
    '%s: Keras layouts load without a transpose',
    (file) => {
      const out = path.join(dir, `out-${file}`);
      const r = runCli(['import', '--from', path.join(dir, file), '--arch', ARCH, '--out', out, '--quiet']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(
          `^imported ${targets.length} tensors of ${file.replace(/\./g, '\\.')} \\(keras-h5, sha256 [0-9a-f]{64}\\)`,
        ),
      );
      expect(r.stdout).toMatch(/every backbone tensor has a source/);
      const { tensors } = loadTensorDir(out);
      let off = 0;
      for (const t of torchShapes) {
        const n = t.torchShape.reduce((a, b) => a * b, 1);
        const name = `backbone.${t.name}`;
        const target = targets.find((x) => x.name === name)!;
        const want = fromTorchLayout(
          { shape: t.torchShape, data: values.slice(off, off + n) },
          target.shape,
        )!;
        off += n;
        expect(Array.from(tensors.get(name)!.data)).toEqual(Array.from(want.data));
      }
      const manifest = JSON.parse(fs.readFileSync(path.join(out, 'import.json'), 'utf8'));
      expect(manifest.mapping[0].rule).toBe('keras: same layout');
    },
    120_000,
  );

  it('input errors exit 2 with one line naming the file, tensor or option; nothing is written', () => {
    const h5 = fs.readFileSync(path.join(dir, 'tiny-keras2.h5'));
    const cutH5 = path.join(dir, 'cut.h5');
    fs.writeFileSync(cutH5, h5.subarray(0, Math.floor(h5.length / 2)));
    const wrongArch = ['--from', path.join(dir, 'tiny.pth'), '--arch', 'resnet18'];
    const cases: [string[], RegExp][] = [
      [
        ['--from', cutH5, '--arch', ARCH],
        /^error: \S*cut\.h5: (not a readable HDF5 file|cannot read the HDF5 structure|tensor "[\w.]+": cannot read dataset)/,
      ],
      [wrongArch, /^error: \S*tiny\.pth: tensor "conv1\.weight": shape \[32, 3, 3, 3\] does not fit/],
      [['--from', path.join(dir, 'nope.pth'), '--arch', ARCH], /^error: --from \S*nope\.pth: no such file$/],
      [
        ['--from', path.join(dir, 'tiny.pth'), '--arch', 'resnet999'],
        /^error: --arch: unknown backbone "resnet999"/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const parent = tmpDir('import-cli-fail');
      const r = runCli(['import', ...args, '--out', path.join(parent, 'w'), '--quiet']);
      const lines = r.stderr.trim().split('\n');
      expect({ status: r.status, last: lines[lines.length - 1] }).toEqual({
        status: 2,
        last: expect.stringMatching(pattern),
      });
      expect(lines.filter((l) => l.startsWith('error:'))).toHaveLength(1);
      expect(listDir(parent)).toEqual([]);
      fs.rmSync(parent, { recursive: true, force: true });
    }
  }, 300_000);
});
