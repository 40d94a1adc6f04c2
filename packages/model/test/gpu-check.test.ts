/**
 * `npm run gpu:check` (bench/gpu-check.ts): without a GPU it refuses in one line before installing
 * anything; its pipeline (PyTorch init -> model:import -> our step-0 checkpoint -> PyTorch head, both
 * trained on one batch, losses compared) runs here on the CPU with `--allow-cpu`, against the project
 * .venv's PyTorch (venvPython()), at 64 px so that it takes a minute.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { compareLosses } from '../bench/gpu-check';
import { gpuMayBePresent } from '../src/backend';

const SCRIPT = path.join(__dirname, '..', 'bench', 'gpu-check.ts');
const gpuCheck = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
    encoding: 'utf8',
  });

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-gpu-check-test-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

(gpuMayBePresent() ? it.skip : it)('without a GPU: one line, exit 1, nothing written', () => {
  const out = path.join(tmp, 'refused.json');
  const r = gpuCheck(['--out', out]);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toEqual([
    'gpu:check: no NVIDIA GPU on this machine (nvidia-smi not found); nothing was installed or run',
  ]);
  expect(fs.existsSync(out)).toBe(false);
});

it('a bad number is a usage error (exit 2)', () => {
  const r = gpuCheck(['--steps', '0']);
  expect(r.status).toBe(2);
  expect(r.stderr.trim()).toBe('gpu:check: --steps: expected a positive integer, got 0');
});

it('compares the leading losses with a tight first step and looser later ones', () => {
  const c = compareLosses([2.5, 1.0, 0.5], [2.5001, 1.01, 0.9], 3);
  expect(c.map((x) => x.ok)).toEqual([true, true, false]);
  expect(c[0]!.tolerance).toBe(1e-3);
  expect(compareLosses([2.51], [2.5], 3)).toEqual([
    expect.objectContaining({ step: 0, ok: false }), // 0.4% at step 0: the same weights give the same loss
  ]);
});

it('the pipeline on the CPU: same initial weights, losses agree, gpu.json-shaped result', () => {
  const out = path.join(tmp, 'cpu.json');
  const r = gpuCheck([
    '--allow-cpu',
    '--no-install',
    '--size',
    '64',
    '--per-domain',
    '1',
    '--steps',
    '2',
    '--compare',
    '2',
    '--out',
    out,
  ]);
  expect(r.stderr).not.toMatch(/gpu:check: /);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^gpu:check: losses agree over the first 2 steps;/);
  const res = JSON.parse(fs.readFileSync(out, 'utf8')) as {
    lossesAgree: boolean;
    compared: { relDiff: number }[];
    tensorflow: { losses: number[]; version: string };
    pytorch: { losses: number[]; version: string };
    cpuOnly: boolean;
  };
  expect(res.lossesAgree).toBe(true);
  expect(res.cpuOnly).toBe(true);
  expect(res.tensorflow.version).toMatch(/^2\.18\./);
  // step 0 is the forward pass of identical weights: float32 agreement, not merely "close"
  expect(res.compared[0]!.relDiff).toBeLessThan(1e-5);
  expect(res.tensorflow.losses[1]).toBeLessThan(res.tensorflow.losses[0]!);
}, 300_000);
