/**
 * Parity through the file: a random-weight PyTorch network (Cadene's SE-ResNeXt-50 defined in plain
 * PyTorch, saved in the legacy format Cadene's files use; torchvision's resnet50, zip format) ->
 * torch.save -> model:import -> model.pretrained -> pooled features in eval mode, compared with
 * PyTorch's on the same batch. Then the initialisation policies for DASE and a few fine-tuning steps.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../src/rng';
import { ModelConfig, SbirNet } from '../src/model';
import { importCheckpoint } from '../src/import/importer';
import { createLearner } from '../src/learner';
import { useNativeBackend } from './helpers';
import { runPython, tmpDir } from './import-fixtures';

const SIZE = 72; // odd sizes after the stem: exercises the ceil-mode max-pool of Cadene's stem
let dir: string;

beforeAll(async () => {
  await useNativeBackend();
  dir = tmpDir('import-parity');
  runPython('import_parity.py', [dir, 'se_resnext50_32x4d', String(SIZE), '--legacy']);
  runPython('import_parity.py', [dir, 'resnet50', String(SIZE)]);
}, 300_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const readF32 = (file: string): Float32Array => new Float32Array(fs.readFileSync(file).buffer.slice(0));

function modelConfig(arch: string, over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    backbone: arch,
    block: arch.startsWith('se_') ? 'se' : 'none',
    // Cadene's SE-ResNeXt was trained with ReLU SE (Hu et al.); the authors' sigmoid is for the ablation.
    attnActivation: 'relu',
    width: 0,
    inputSize: SIZE,
    embeddingDim: 16,
    numClasses: 4,
    pretrained: path.join(dir, `imported-${arch}`),
    ...over,
  };
}

/** The fixed batch, NCHW from PyTorch -> NHWC. */
function batch(arch: string): tf.Tensor4D {
  const x = tf.tensor4d(readF32(path.join(dir, `${arch}.input.bin`)), [2, 3, SIZE, SIZE]);
  const nhwc = tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
  x.dispose();
  return nhwc;
}

/** max |a - b| / max |b|: the error relative to the features' scale. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
}

describe.each([
  ['se_resnext50_32x4d', 'torch-legacy', 'last_linear.'],
  ['resnet50', 'torch-zip', 'fc.'],
])('%s from a torch.save file', (arch, format, head) => {
  it('imports every backbone tensor; pooled features match PyTorch within 1e-4 (eval)', async () => {
    const { manifest } = await importCheckpoint({
      from: path.join(dir, `${arch}.pth`),
      arch,
      out: path.join(dir, `imported-${arch}`),
    });
    expect(manifest.source.format).toBe(format);
    expect(manifest.missing).toEqual([]);
    for (const u of manifest.unmatched) {
      expect(u.source.endsWith('num_batches_tracked') || u.source.startsWith(head)).toBe(true);
    }
    const net = new SbirNet(modelConfig(arch), new Rng(3));
    expect(net.pretrainedReport!.notLoaded.map((n) => n.name)).toEqual([
      'head.embed.weight',
      'head.embed.bias',
    ]);
    const x = batch(arch);
    const ref = readF32(path.join(dir, `${arch}.pooled.bin`));
    for (const forcePlain of [false, true]) {
      const pooled = net.backbone.forward(x, { training: false, forcePlain });
      expect(relErr(pooled.dataSync(), ref)).toBeLessThan(1e-4);
      pooled.dispose();
    }
    x.dispose();
    net.dispose();
  }, 300_000);
});

describe('pretrained SE weights in a DASE network', () => {
  const arch = 'se_resnext50_32x4d';
  const domainAwareFc2 = (net: SbirNet): string[] =>
    [...net.store.params.keys()].filter((n) => /^backbone\.layer[123]\.\d+\.se_module\.fc2\.weight$/.test(n));

  it('authors: the domain-aware fc2 weights keep their random init, everything else loads', () => {
    const net = new SbirNet(modelConfig(arch, { block: 'dase' }), new Rng(3));
    const r = net.pretrainedReport!;
    const skipped = domainAwareFc2(net);
    expect(skipped).toHaveLength(3 + 4 + 6);
    expect(r.notLoaded.map((n) => n.name).sort()).toEqual(
      [...skipped, 'head.embed.bias', 'head.embed.weight'].sort(),
    );
    expect(r.notLoaded.find((n) => n.name === skipped[0])!.reason).toMatch(
      /^DASE fc2 with a domain input row; size mismatch: source \[16, 256\], model \[17, 256\]/,
    );
    expect(net.getConfig().pretrainedLoad).toEqual(r);
    net.dispose();
  }, 120_000);

  it('copy-zero-domain: the DASE network starts as the pretrained SE network for both domains', () => {
    const se = new SbirNet(modelConfig(arch), new Rng(3));
    const dase = new SbirNet(
      modelConfig(arch, { block: 'dase', pretrainedInit: 'copy-zero-domain' }),
      new Rng(4),
    );
    expect(dase.pretrainedReport!.domainRowZeroed).toEqual(domainAwareFc2(dase));
    expect(dase.pretrainedReport!.notLoaded.map((n) => n.name)).toEqual([
      'head.embed.weight',
      'head.embed.bias',
    ]);
    const x = batch(arch);
    const want = se.backbone.forward(x, { training: false });
    for (const d of [0, 1]) {
      const domain = tf.fill([2], d) as tf.Tensor1D;
      const got = dase.backbone.forward(x, { training: false, domain });
      expect(relErr(got.dataSync(), want.dataSync())).toBeLessThan(1e-5);
      got.dispose();
      domain.dispose();
    }
    [x, want].forEach((t) => t.dispose());
    se.dispose();
    dase.dispose();
  }, 120_000);

  it('fine-tunes from the imported weights (a few Adam steps, MEMS)', () => {
    const tr = createLearner({
      model: modelConfig(arch, { block: 'dase', attnActivation: undefined, inputSize: 32 }),
      loss: { name: 'mems', margin: 2 },
      optimizer: { name: 'adam', lr: 1e-4, weightDecay: 1e-4, schedule: 'constant', totalSteps: 3 },
      seed: 0,
    });
    const rng = new Rng(9);
    const n = 4;
    const images = Uint8Array.from({ length: n * 32 * 32 * 3 }, () => rng.int(256));
    const b = {
      images,
      n,
      height: 32,
      width: 32,
      labels: Int32Array.of(0, 1, 2, 3),
      domains: Uint8Array.of(0, 1, 0, 1),
    };
    const name = 'backbone.layer4.2.conv3.weight';
    const before = tr.model.store.params.get(name)!.dataSync().slice();
    for (let i = 0; i < 3; i++) expect(Number.isFinite(tr.trainStep(b).loss)).toBe(true);
    const after = tr.model.store.params.get(name)!.dataSync();
    expect(relErr(after, before)).toBeGreaterThan(0);
    expect(tr.model.getConfig().pretrained).toBe(path.join(dir, `imported-${arch}`));
    tr.dispose();
  }, 300_000);
});
