/**
 * model:import end to end on a whole backbone (resnet-tiny) written by PyTorch and safetensors:
 * names and layouts, the manifest, and that a corrupt, truncated or mismatched file is one line
 * naming the file and the first offending tensor, with nothing written.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Rng } from '../src/rng';
import { SbirNet } from '../src/model';
import { fromTorchLayout } from '../src/import/layout';
import { importCheckpoint } from '../src/import/importer';
import { loadTensorDir } from '../src/tensorfile';
import { useNativeBackend } from './helpers';
import { listDir, runPython, tmpDir, writeTargets } from './import-fixtures';

const ARCH = 'resnet-tiny';
let dir: string;
let targets: { name: string; shape: number[] }[];
/** Source values in PyTorch layout, by target name. */
const source = new Map<string, { shape: number[]; data: Float32Array }>();

beforeAll(async () => {
  await useNativeBackend();
  dir = tmpDir('import');
  targets = writeTargets(dir, ARCH);
  runPython('import_fixtures.py', [dir, 'tiny-torch']);
  runPython('import_fixtures.py', [dir, 'tiny-st']);
  const all = new Float32Array(fs.readFileSync(path.join(dir, 'tiny-values.bin')).buffer.slice(0));
  const torchTargets = JSON.parse(fs.readFileSync(path.join(dir, 'targets.json'), 'utf8')) as {
    name: string;
    torchShape: number[];
  }[];
  let off = 0;
  for (const t of torchTargets) {
    const n = t.torchShape.reduce((a, b) => a * b, 1);
    source.set(`backbone.${t.name}`, { shape: t.torchShape, data: all.slice(off, off + n) });
    off += n;
  }
}, 180_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function expectImported(out: string): void {
  const { tensors } = loadTensorDir(out);
  expect([...tensors.keys()].sort()).toEqual(targets.map((t) => t.name).sort());
  for (const t of targets) {
    const want = fromTorchLayout(source.get(t.name)!, t.shape)!;
    const got = tensors.get(t.name)!;
    expect(got.shape).toEqual(t.shape);
    expect(Buffer.from(got.data.buffer).equals(Buffer.from(want.data.buffer))).toBe(true);
  }
}

describe('model:import', () => {
  it.each([
    ['tiny.pth', 'torch-zip'],
    ['tiny-legacy.pth', 'torch-legacy'],
    ['tiny-nested.pth', 'torch-zip'],
    ['tiny.safetensors', 'safetensors'],
  ])('%s maps every tensor by name and layout and writes the manifest', async (file, format) => {
    const from = path.join(dir, file);
    const out = path.join(dir, `out-${file}`);
    const { manifest } = await importCheckpoint({ from, arch: ARCH, out });
    expectImported(out);
    expect(manifest.source).toMatchObject({
      file,
      format,
      bytes: fs.statSync(from).size,
      sha256: crypto.createHash('sha256').update(fs.readFileSync(from)).digest('hex'),
    });
    expect(manifest.arch).toBe(ARCH);
    expect(manifest.missing).toEqual([]);
    expect(manifest.mapping.find((m) => m.target === 'backbone.layer1.0.conv1.weight')).toMatchObject({
      rule: 'conv OIHW -> HWIO',
    });
    const heads = manifest.unmatched.filter((u) => u.reason === 'classifier head, not used');
    expect(heads.map((u) => u.source.replace(/^module\./, ''))).toEqual(
      file.endsWith('.pth') ? ['fc.weight'] : [],
    );
    if (file === 'tiny-nested.pth') {
      expect(manifest.strippedPrefixes).toEqual({ 'module.': targets.length + 1 });
      expect(manifest.source.notes.join(' ')).toMatch(/nested dict "model"/);
    }
    expect(JSON.parse(fs.readFileSync(path.join(out, 'import.json'), 'utf8'))).toEqual(manifest);
  });

  it('model.pretrained loads the folder; the heads are listed as not loaded', async () => {
    const out = path.join(dir, 'out-tiny.pth');
    const net = new SbirNet(
      {
        backbone: ARCH,
        block: 'none',
        width: 0,
        inputSize: 32,
        embeddingDim: 8,
        numClasses: 3,
        pretrained: out,
      },
      new Rng(1),
    );
    const r = net.pretrainedReport!;
    expect(r.loaded).toBe(targets.length);
    expect(r.notLoaded.map((n) => n.name)).toEqual(['head.embed.weight', 'head.embed.bias']);
    const w = net.store.params.get('backbone.layer2.0.conv2.weight')!;
    const want = fromTorchLayout(source.get('backbone.layer2.0.conv2.weight')!, w.shape)!;
    expect(Array.from(w.dataSync())).toEqual(Array.from(want.data));
    expect(net.getConfig()).toMatchObject({ pretrained: out, pretrainedInit: 'authors' });
    net.dispose();
    expect(
      () =>
        new SbirNet(
          {
            backbone: ARCH,
            block: 'none',
            width: 0,
            inputSize: 32,
            embeddingDim: 8,
            numClasses: 3,
            pretrained: path.join(dir, 'nope'),
          },
          new Rng(1),
        ),
    ).toThrow(
      /^model\.pretrained: .*nope does not exist; import the weights first: npx nx run model:import -- --from <checkpoint file> --arch resnet-tiny --out .*nope$/,
    );
  });

  /** Runs an import that must fail: one line naming the file (and tensor), nothing left in `parent`. */
  async function expectFailure(from: string, arch: string, pattern: RegExp): Promise<void> {
    const parent = tmpDir('import-fail');
    const out = path.join(parent, 'weights');
    const err = await importCheckpoint({ from, arch, out }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg.split('\n')).toHaveLength(1);
    expect(msg).toMatch(pattern);
    expect(listDir(parent)).toEqual([]);
    fs.rmSync(parent, { recursive: true, force: true });
  }

  it('a flipped byte in a storage names the tensor (zip CRC); nothing is written', async () => {
    const buf = fs.readFileSync(path.join(dir, 'tiny.pth'));
    const bad = Buffer.from(buf);
    bad[Math.floor(buf.length / 2)] ^= 0x01;
    const from = path.join(dir, 'corrupt.pth');
    fs.writeFileSync(from, bad);
    await expectFailure(from, ARCH, /corrupt\.pth: tensor "[\w.]+": storage .*CRC32 checksum failed/);
  });

  it('a truncated file names the file, and the tensor where one is to blame', async () => {
    for (const [name, pattern] of [
      ['tiny.pth', /cut-tiny\.pth: not a readable zip archive .*truncated\?/],
      [
        'tiny-legacy.pth',
        /cut-tiny-legacy\.pth: tensor "[\w.]+": storage \S+ has \d+ bytes, needs \d+ \(truncated file\?\)/,
      ],
    ] as const) {
      const buf = fs.readFileSync(path.join(dir, name));
      const from = path.join(dir, `cut-${name}`);
      fs.writeFileSync(from, buf.subarray(0, Math.floor(buf.length * 0.6)));
      await expectFailure(from, ARCH, pattern);
    }
  });

  it('a checkpoint of another architecture names the first tensor that does not fit', async () => {
    await expectFailure(
      path.join(dir, 'tiny.pth'),
      'resnet18',
      /tiny\.pth: tensor "conv1\.weight": shape \[32, 3, 3, 3\] does not fit backbone\.conv1\.weight \[7, 7, 3, 64\] of resnet18/,
    );
  });

  it('--out: an existing folder needs --force, a symlink is refused', async () => {
    const from = path.join(dir, 'tiny.pth');
    const out = path.join(dir, 'out-tiny.pth');
    await expect(importCheckpoint({ from, arch: ARCH, out })).rejects.toThrow(
      /exists and is not empty \(pass --force/,
    );
    await importCheckpoint({ from, arch: ARCH, out, force: true });
    expectImported(out);
    const link = path.join(dir, 'link-out');
    const elsewhere = tmpDir('import-elsewhere');
    fs.symlinkSync(elsewhere, link);
    await expect(importCheckpoint({ from, arch: ARCH, out: link, force: true })).rejects.toThrow(
      /is a symbolic link/,
    );
    expect(listDir(elsewhere)).toEqual([]);
    fs.rmSync(elsewhere, { recursive: true, force: true });
  });
});
