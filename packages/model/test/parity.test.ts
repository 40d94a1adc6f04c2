/**
 * Parity with PyTorch: the reference networks of sbir_py.reference_nets (packages/model/py) (Cadene's SE-ResNeXt,
 * torchvision's ResNet-50) with random weights and BatchNorm statistics, imported into our backbones by
 * the naming contract (import/layout.ts) and run in eval mode on the same batch. Pooled features and
 * the logits of a linear head must agree to 1e-4 relative error. Needs .venv's torch and
 * torchvision (`npm run py:setup`); it fails, not skips, without them.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { venvPython } from '@sbir/core';
import * as tf from '@tensorflow/tfjs-core';
import { LayoutArray, fromTorchLayout, transpose } from '../src/import/layout';
import { SbirNet } from '../src/model';
import { Rng } from '../src/rng';
import { useNativeBackend } from './helpers';

const PYTHON = venvPython();

interface Entry {
  name: string;
  shape: number[];
  file: string;
}
interface Manifest {
  tensors: Entry[];
  input: Entry;
  domain: Entry;
  features: Entry;
  logits: Entry;
}

function readArray(dir: string, e: Entry): LayoutArray {
  const buf = fs.readFileSync(path.join(dir, e.file));
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  expect(data.length).toBe(e.shape.reduce((a, b) => a * b, 1));
  return { shape: e.shape, data };
}

/** max |a - b| / max |b|: the error relative to the reference's scale. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

/** Our name of a reference tensor: the backbone by the naming contract, the head as the embedding. */
function ourName(torchName: string): string {
  const head = /^(fc|last_linear)\.(weight|bias)$/.exec(torchName);
  return head ? `head.embed.${head[2]}` : `backbone.${torchName}`;
}

beforeAll(useNativeBackend);

const cases = [
  { arch: 'se_resnext50_32x4d', block: 'se', act: 'relu' },
  { arch: 'se_resnext50_32x4d', block: 'dase', act: 'sigmoid' },
  { arch: 'se_resnext101_32x4d', block: 'se', act: 'relu' },
  { arch: 'resnet50', block: 'none', act: 'relu' },
] as const;

describe('parity with PyTorch (eval mode, 64 px, batch 2)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-parity-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it.each(cases)(
    '$arch block $block ($act): pooled features and logits within 1e-4',
    ({ arch, block, act }) => {
      const dir = path.join(tmp, `${arch}-${block}`);
      const args = [
        '-m',
        'sbir_py.reference_nets',
        '--arch',
        arch,
        '--block',
        block === 'dase' ? 'dase' : 'se',
        '--act',
        act,
      ];
      execFileSync(PYTHON, [...args, '--size', '64', '--batch', '2', '--classes', '10', '--out', dir], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
      const model = new SbirNet(
        {
          backbone: arch,
          block,
          width: 0,
          inputSize: 64,
          embeddingDim: 10,
          numClasses: 10,
          attnActivation: act,
        },
        new Rng(0),
      );
      const ours = new Map([...model.store.params, ...model.store.buffers]);
      const unmatched: string[] = [];
      for (const e of manifest.tensors) {
        const v = ours.get(ourName(e.name));
        const converted = v ? fromTorchLayout(readArray(dir, e), v.shape) : null;
        if (!v || !converted) {
          unmatched.push(`${e.name} [${e.shape.join(', ')}]`);
          continue;
        }
        v.assign(tf.tensor(converted.data, v.shape));
        ours.delete(ourName(e.name));
      }
      // Layer for layer: every reference tensor lands in one of ours and none of ours is left over.
      expect(unmatched).toEqual([]);
      expect([...ours.keys()]).toEqual([]);
      const input = transpose(readArray(dir, manifest.input), [0, 2, 3, 1]); // NCHW -> NHWC
      const [feats, logits] = tf.tidy(() => {
        const x = tf.tensor4d(input.data, input.shape as [number, number, number, number]);
        const ctx = { training: false, domain: tf.tensor1d(readArray(dir, manifest.domain).data) };
        return [model.backbone.forward(x, ctx).dataSync(), model.forward(x, ctx).embedding.dataSync()];
      });
      expect(relErr(feats, readArray(dir, manifest.features).data)).toBeLessThan(1e-4);
      expect(relErr(logits, readArray(dir, manifest.logits).data)).toBeLessThan(1e-4);
      model.dispose();
    },
    300_000,
  );
});
