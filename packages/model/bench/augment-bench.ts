/**
 * `npx nx run model:bench-augment`: the input pipelines at paper scale, and the rotation against PIL.
 *
 * 1. Time of `prepareInput` per training batch (44 rows at 224 px, half sketches, half photos, the
 *    authors' 22 + 22) for `authors`, `crop-flip` and the test transforms, on the native backend.
 * 2. Rotation: TensorFlow's ImageProjectiveTransformV3 (bilinear; it has no bicubic kernel: asked for
 *    BICUBIC, TF 2.18.1 returns the fill value everywhere) against PIL's Image.rotate with BILINEAR and
 *    with BICUBIC (the authors' RandomRotation(90, Image.BICUBIC)) on a synthetic inverted sketch
 *    (white strokes on black, fill 0), through .venv's Python with PIL. Mean and max absolute
 *    difference in grey levels (0-255) over the pixels, per angle.
 * Writes bench/results/augment.json.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ensureVenvPython, exitWithError, yargsFailure } from '@sbir/core';
import * as tf from '@tensorflow/tfjs-core';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { pipelineDefaults, prepareInput, resolveInputPipeline, rotateImages } from '../src/augment';
import { initBackend } from '../src/backend';
import { Rng } from '../src/rng';

const ROOT = path.resolve(__dirname, '../../..');
const PY = ensureVenvPython(); // creates .venv (scripts/python-venv.sh) on a fresh clone
const SIZE = 224;

/** A line drawing in inverted space: a few thick random strokes of value 255 on 0. */
function syntheticSketch(size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const img = new Float32Array(size * size);
  for (let s = 0; s < 12; s++) {
    const [x0, y0, x1, y1] = [0, 0, 0, 0].map(() => size * (0.1 + 0.8 * rng.uniform()));
    for (let t = 0; t <= 400; t++) {
      const x = x0 + ((x1 - x0) * t) / 400;
      const y = y0 + ((y1 - y0) * t) / 400;
      for (let dy = -2; dy <= 2; dy++)
        for (let dx = -2; dx <= 2; dx++) {
          const xi = Math.round(x + dx);
          const yi = Math.round(y + dy);
          if (xi >= 0 && yi >= 0 && xi < size && yi < size) img[yi * size + xi] = 255;
        }
    }
  }
  return img;
}

function timePipelines(): Record<string, { msPerBatch: number; rounds: number }> {
  const n = 44;
  const rng = new Rng(1);
  const images = Uint8Array.from({ length: n * SIZE * SIZE * 3 }, () => rng.int(256));
  const domains = Uint8Array.from({ length: n }, (_, i) => (i < n / 2 ? 0 : 1));
  const batch = { images, n, height: SIZE, width: SIZE, domains };
  const cases: [string, () => tf.Tensor][] = [
    ['authors-train', () => prepareInput(batch, SIZE, pipelineDefaults('authors'), rng)],
    ['authors-test', () => prepareInput(batch, SIZE, pipelineDefaults('authors'))],
    ['crop-flip-train', () => prepareInput(batch, SIZE, pipelineDefaults('crop-flip'), rng)],
    ['none', () => prepareInput(batch, SIZE, resolveInputPipeline({ name: 'none' }))],
  ];
  const out: Record<string, { msPerBatch: number; rounds: number }> = {};
  for (const [name, run] of cases) {
    run().dispose(); // warm-up
    const times: number[] = [];
    for (let r = 0; r < 10; r++) {
      // tfjs-node runs each op eagerly and synchronously: the time is the pipeline's, without a download
      const t0 = performance.now();
      const x = run();
      times.push(performance.now() - t0);
      x.dispose();
    }
    times.sort((a, b) => a - b);
    out[name] = {
      msPerBatch: Math.round(times[Math.floor(times.length / 2)] * 10) / 10,
      rounds: times.length,
    };
  }
  return out;
}

function rotationVsPil(): unknown {
  const angles = [-75, -30, 10, 45, 88];
  const img = syntheticSketch(SIZE, 3);
  const ours = tf.tidy(() => {
    const x = tf.tensor4d(
      Float32Array.from({ length: angles.length * SIZE * SIZE }, (_, k) => img[k % (SIZE * SIZE)]),
      [angles.length, SIZE, SIZE, 1],
    );
    return rotateImages(x, Float32Array.from(angles), 'bilinear', 0).dataSync() as Float32Array;
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-augment-bench-'));
  try {
    fs.writeFileSync(path.join(dir, 'input.f32'), Buffer.from(img.buffer));
    fs.writeFileSync(path.join(dir, 'ours.f32'), Buffer.from(ours.buffer));
    const script = `
import json, sys
import numpy as np
from PIL import Image
d, size, angles = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
src = np.fromfile(d + '/input.f32', dtype=np.float32).reshape(size, size)
ours = np.fromfile(d + '/ours.f32', dtype=np.float32).reshape(len(angles), size, size)
pil = Image.fromarray(src.astype(np.uint8), 'L')
rows = []
for i, a in enumerate(angles):
    res = {'angle': a}
    for name, f in (('bilinear', Image.BILINEAR), ('bicubic', Image.BICUBIC)):
        ref = np.asarray(pil.rotate(a, f), dtype=np.float64)
        diff = np.abs(np.round(ours[i]) - ref)
        res[name] = {'meanAbs': round(float(diff.mean()), 3), 'max': float(diff.max())}
    ref_l = np.asarray(pil.rotate(a, Image.BILINEAR), dtype=np.float64)
    ref_c = np.asarray(pil.rotate(a, Image.BICUBIC), dtype=np.float64)
    res['pilBicubicVsBilinear'] = {'meanAbs': round(float(np.abs(ref_c - ref_l).mean()), 3)}
    rows.append(res)
import PIL
print(json.dumps({'pil': PIL.__version__, 'rows': rows}))
`;
    const r = spawnSync(PY, ['-c', script, dir, String(SIZE), JSON.stringify(angles)], { encoding: 'utf8' });
    if (r.status !== 0)
      throw new Error(`${PY} (PIL) failed: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    return JSON.parse(r.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  // no options: only --help, and an error for anything else
  await yargs(hideBin(process.argv)).strict().fail(yargsFailure).parseAsync();
  const info = await initBackend('tensorflow', { threads: 2, quiet: true });
  const loadAverage = { start: os.loadavg().map((v) => Math.round(v * 10) / 10), end: [] as number[] };
  process.stderr.write('timing the pipelines (44 x 224 px) ...\n');
  const timing = timePipelines();
  process.stderr.write('rotation vs PIL ...\n');
  const rotation = rotationVsPil();
  loadAverage.end = os.loadavg().map((v) => Math.round(v * 10) / 10);
  const result = {
    benchmark: 'augment',
    description:
      'prepareInput per training batch of 44 rows at 224 px (22 sketches + 22 photos), median of 10 after a warm-up; ' +
      'rotation of a synthetic inverted sketch (224 px, strokes 255 on 0) by ImageProjectiveTransformV3 bilinear vs PIL Image.rotate ' +
      'BILINEAR and BICUBIC (grey-level differences of our output rounded to integers), and PIL bicubic vs PIL bilinear.',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, loadAverage },
    backend: { name: info.name, tensorflow: info.tfVersion, threads: info.threads },
    timing,
    rotation,
  };
  const out = path.join(ROOT, 'bench', 'results', 'augment.json');
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `${JSON.stringify({ timing, rotation }, null, 1)}\nwrote ${path.relative(ROOT, out)}\n`,
  );
}

main().catch((e: unknown) => exitWithError(e));
