/**
 * `npm run gpu:check`: the GPU path end to end on a machine with an NVIDIA GPU, within 8 minutes of
 * GPU time, installs included.
 *
 * 1. Refuses at once (one line, exit 1) where nvidia-smi lists no GPU: nothing is installed or run.
 * 2. Installs the GPU variant (`npm run native:gpu`) and the project's .venv (scripts/python-venv.sh,
 *    PyPI torch), then runs `model:doctor --backend tensorflow-gpu`; TensorFlow must see a GPU.
 * 3. The paper net, SE-ResNeXt-50 32x4d (Cadene's published layout, ReLU SE) at 224 px, 22 sketches +
 *    22 photos per step, 512-d embedding, softmax over 100 classes, Adam (lr 1e-4, no weight decay):
 *    PyTorch writes random initial weights (gpu_check.py init), the project's importer reads them
 *    (model:import), our tensorflow-gpu run saves its step-0 checkpoint and PyTorch takes the
 *    embedding and classifier from it, so both start from the same weights. Both train the same
 *    fixed batch for --steps steps on CUDA; TF32 is off in both (NVIDIA_TF32_OVERRIDE=0) so the
 *    first losses are float32 maths on both sides and can be compared.
 * 4. Checks that the first --compare losses agree, and writes bench/results/gpu.json.
 *
 * `--allow-cpu` (tests only) runs the same pipeline without a GPU, on both CPU backends, with
 * whatever --size / --per-domain / --steps the test asks, to a given --out.
 */
import { spawn, spawnSync, type SpawnSyncOptions } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { venvPython, writeJsonAtomicSync } from '@sbir/core';
import { initBackend, type BackendName } from '../src/backend';
import { listNvidiaGpus } from '../src/gpu';
import { createLearner } from '../src/learner';

const REPO = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(__dirname, '..', 'src', 'cli.ts');
const PY = path.join(__dirname, 'gpu_check.py');
const TSX = ['--import', 'tsx'];
/** Relative tolerance of the compared losses: step 0 is a forward pass only; each later step adds
 *  one Adam update computed from float32 gradients summed in different orders by cuDNN and oneDNN. */
const TOL_FIRST = 1e-3;
const TOL_LATER = 2e-2;
/** All the GPU time such a check may get (issue 20), installs included; the result records it. */
const BUDGET_SECONDS = 480;

interface Options {
  steps: number;
  compare: number;
  size: number;
  perDomain: number;
  classes: number;
  out: string;
  allowCpu: boolean;
  install: boolean;
  python: string;
}

interface StepRun {
  losses: number[];
  timedSteps: number;
  seconds: number;
  imagesPerSec: number | null;
}

function fail(msg: string): never {
  process.stderr.write(`gpu:check: ${msg}\n`);
  process.exit(1);
}

/** Runs a program (argv array, no shell); its stdout is returned, its stderr passes through. */
function run(what: string, cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, {
    cwd: REPO,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
    ...opts,
  });
  if (r.error) fail(`${what}: ${r.error.message}`);
  if (r.status !== 0) fail(`${what} exited with ${r.status ?? r.signal}`);
  return String(r.stdout ?? '');
}

/** Runs a program with its output passed through; resolves with its seconds, exits on failure. */
function runAsync(what: string, cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (e) => fail(`${what}: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (code !== 0) fail(`${what} exited with ${code ?? signal}`);
      resolve(Math.round((performance.now() - t0) / 100) / 10);
    });
  });
}

const lastJson = <T>(out: string): T => JSON.parse(out.trim().split('\n').pop() as string) as T;

/** Relative differences of the first `n` losses, and whether each is within its tolerance. */
export function compareLosses(ours: number[], theirs: number[], n: number) {
  return Array.from({ length: Math.min(n, ours.length, theirs.length) }, (_, i) => {
    const rel = Math.abs(ours[i]! - theirs[i]!) / Math.max(Math.abs(theirs[i]!), 1e-12);
    const tol = i === 0 ? TOL_FIRST : TOL_LATER;
    return { step: i, ours: ours[i]!, pytorch: theirs[i]!, relDiff: rel, tolerance: tol, ok: rel <= tol };
  });
}

async function check(o: Options): Promise<void> {
  const started = performance.now();
  const smi = listNvidiaGpus();
  if (!o.allowCpu && (smi.error || smi.gpus.length === 0))
    fail(
      `no NVIDIA GPU on this machine (${smi.error ?? 'nvidia-smi lists none'}); nothing was installed or run`,
    );
  const installs: Record<string, number> = {};
  if (o.install) {
    // Both are downloads of NVIDIA wheels (TensorFlow's and PyTorch's pin different versions):
    // side by side they share the budget's minutes instead of adding them up.
    const setup = path.join(REPO, 'tools', 'native-backend', 'setup.js');
    const [nativeGpu, pythonVenv] = await Promise.all([
      runAsync('npm run native:gpu', process.execPath, [setup, '--variant', 'gpu', '--build', '--install']),
      runAsync('scripts/python-venv.sh', 'bash', ['scripts/python-venv.sh']),
    ]);
    Object.assign(installs, { nativeGpu, pythonVenv });
  }
  const backend: BackendName = o.allowCpu ? 'tensorflow' : 'tensorflow-gpu';
  const env = { ...process.env, NVIDIA_TF32_OVERRIDE: '0', TF_CPP_MIN_LOG_LEVEL: '2' };
  // (the doctor prints its report as indented JSON: the whole output is one document)
  const doctor = JSON.parse(
    run(
      'model:doctor',
      process.execPath,
      [...TSX, CLI, 'doctor', '--backend', backend, '--quick', '--json'],
      { env },
    ),
  ) as { gpu: { reason: string | null }; backend: { tfVersion: string } };
  if (!o.allowCpu && doctor.gpu.reason !== null) fail(`tensorflow-gpu uses no GPU: ${doctor.gpu.reason}`);

  const probe = spawnSync(
    o.python,
    ['-c', 'import torch; print(torch.__version__, torch.cuda.is_available())'],
    {
      encoding: 'utf8',
    },
  );
  if (probe.status !== 0)
    fail(
      `${o.python} has no PyTorch (${(probe.stderr || String(probe.error ?? '')).trim().split('\n').pop()}); scripts/python-venv.sh installs it into .venv`,
    );
  const [torchVersion, cuda] = probe.stdout.trim().split(' ');
  if (!o.allowCpu && cuda !== 'True')
    fail(`PyTorch ${torchVersion} in ${o.python} cannot use CUDA (a CPU-only build?)`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-gpu-check-'));
  try {
    const shape = [
      '--size',
      String(o.size),
      '--per-domain',
      String(o.perDomain),
      '--classes',
      String(o.classes),
    ];
    run('gpu_check.py init', o.python, [PY, 'init', '--dir', dir, ...shape]);
    const weights = path.join(dir, 'weights');
    const importArgs = ['import', '--from', path.join(dir, 'init.pth'), '--arch', 'se_resnext50_32x4d'];
    run(
      'model:import',
      process.execPath,
      [...TSX, CLI, ...importArgs, '--block', 'se', '--out', weights, '--quiet'],
      { env },
    );
    const ckpt = path.join(dir, 'ours-step0');
    // The child's settings travel in the environment: node-pre-gyp (loaded by tfjs-node) parses
    // process.argv and takes an option such as --dir as its own.
    const child = JSON.stringify({ dir, steps: o.steps, backend });
    const ours = lastJson<StepRun & { backend: string }>(
      run('tensorflow-gpu training', process.execPath, [...TSX, __filename, 'ours'], {
        env: { ...env, SBIR_GPU_CHECK_CHILD: child },
      }),
    );
    const device = o.allowCpu ? 'cpu' : 'cuda';
    const torchArgs = [
      PY,
      'train',
      '--dir',
      dir,
      '--checkpoint',
      ckpt,
      '--steps',
      String(o.steps),
      '--device',
      device,
    ];
    const torch = lastJson<StepRun & Record<string, unknown>>(
      run('PyTorch training', o.python, torchArgs, { env }),
    );
    const compared = compareLosses(ours.losses, torch.losses, o.compare);
    const agree = compared.length === o.compare && compared.every((c) => c.ok);
    const result = {
      description: `se_resnext50_32x4d (Cadene layout, ReLU SE), ${o.size} px, ${o.perDomain}+${o.perDomain} images/step, 512-d embedding, softmax over ${o.classes} classes, Adam lr 1e-4 without weight decay, one fixed batch, same initial weights (PyTorch init -> model:import; embedding and classifier from our step-0 checkpoint), TF32 off (NVIDIA_TF32_OVERRIDE=0); the first 2 steps untimed`,
      date: new Date().toISOString(),
      gpus: smi.gpus,
      doctor: doctor.gpu,
      tensorflow: { version: doctor.backend.tfVersion, backend: ours.backend, ...pick(ours) },
      pytorch: { ...torch, ...pick(torch) },
      ratio: ours.imagesPerSec && torch.imagesPerSec ? ours.imagesPerSec / torch.imagesPerSec : null,
      lossesAgree: agree,
      compared,
      installSeconds: installs,
      totalSeconds: Math.round((performance.now() - started) / 1000),
      budgetSeconds: BUDGET_SECONDS,
      cpuOnly: o.allowCpu,
    };
    writeJsonAtomicSync(o.out, result);
    process.stdout.write(
      `gpu:check: ${agree ? 'losses agree' : 'LOSSES DIFFER'} over the first ${compared.length} steps; tensorflow-gpu ${fmt(ours.imagesPerSec)} images/s, PyTorch ${fmt(torch.imagesPerSec)} images/s; ${result.totalSeconds} s in all -> ${o.out.startsWith(REPO + path.sep) ? path.relative(REPO, o.out) : o.out}\n`,
    );
    if (!agree) process.exitCode = 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const pick = (r: StepRun) => ({
  losses: r.losses,
  timedSteps: r.timedSteps,
  seconds: r.seconds,
  imagesPerSec: r.imagesPerSec,
});
const fmt = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(1));

/** The child that trains our side: the backend loads in a fresh process, with NVIDIA_TF32_OVERRIDE set. */
interface OursSettings {
  dir: string;
  steps: number;
  backend: BackendName;
}

async function ours(a: OursSettings): Promise<void> {
  const info = await initBackend(a.backend, { quiet: true });
  const batch = JSON.parse(fs.readFileSync(path.join(a.dir, 'batch.json'), 'utf8')) as {
    n: number;
    size: number;
    classes: number;
    domains: number[];
  };
  const tr = createLearner({
    model: {
      backbone: 'se_resnext50_32x4d',
      block: 'se',
      attnActivation: 'relu',
      width: 0, // the backbone's own widths
      inputSize: batch.size,
      embeddingDim: 512,
      numClasses: batch.classes,
      pretrained: path.join(a.dir, 'weights'),
    },
    loss: { name: 'softmax' },
    optimizer: { name: 'adam', lr: 1e-4, weightDecay: 0, totalSteps: a.steps },
    input: { name: 'none' },
    seed: 0,
  });
  await tr.saveCheckpoint(path.join(a.dir, 'ours-step0'));
  const labels = fs.readFileSync(path.join(a.dir, 'labels.i32'));
  const b = {
    images: new Uint8Array(fs.readFileSync(path.join(a.dir, 'images.u8'))),
    n: batch.n,
    height: batch.size,
    width: batch.size,
    labels: new Int32Array(labels.buffer, labels.byteOffset, batch.n),
    domains: Uint8Array.from(batch.domains),
  };
  const losses: number[] = [];
  let t0 = 0;
  for (let i = 0; i < a.steps; i++) {
    if (i === 2) t0 = performance.now(); // the loss read of step 1 waited for the device
    losses.push(tr.trainStep(b).loss); // reading the loss waits for the step to finish
  }
  const seconds = a.steps > 2 ? (performance.now() - t0) / 1000 : 0;
  const timedSteps = Math.max(0, a.steps - 2);
  process.stdout.write(
    `${JSON.stringify({ backend: info.name, losses, timedSteps, seconds, imagesPerSec: seconds > 0 ? (timedSteps * batch.n) / seconds : null })}\n`,
  );
}

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('gpu:check')
    .command(
      'ours',
      false,
      (y) => y,
      () => ours(JSON.parse(process.env.SBIR_GPU_CHECK_CHILD ?? '{}') as OursSettings),
    )
    .command(
      '$0',
      'train the paper net on tensorflow-gpu and PyTorch CUDA side by side; write bench/results/gpu.json',
      (y) =>
        y
          .option('steps', {
            type: 'number',
            default: 20,
            describe: 'training steps per engine (the first 2 untimed)',
          })
          .option('compare', {
            type: 'number',
            default: 3,
            describe: 'leading steps whose losses must agree',
          })
          .option('size', { type: 'number', default: 224 })
          .option('per-domain', { type: 'number', default: 22, describe: 'sketches (and photos) per step' })
          .option('classes', { type: 'number', default: 100 })
          .option('out', { type: 'string', default: path.join(REPO, 'bench', 'results', 'gpu.json') })
          .option('install', {
            type: 'boolean',
            default: true,
            describe: 'run npm run native:gpu and scripts/python-venv.sh first',
          })
          .option('python', {
            type: 'string',
            default: venvPython(),
            describe: 'python with torch (default: the project .venv, or $SBIR_PYTHON)',
          })
          .option('allow-cpu', { type: 'boolean', default: false, hidden: true }),
      async (a) => {
        for (const [k, v] of [
          ['--steps', a.steps],
          ['--compare', a.compare],
          ['--size', a.size],
          ['--per-domain', a['per-domain']],
          ['--classes', a.classes],
        ] as const)
          if (!Number.isInteger(v) || v < 1) {
            process.stderr.write(`gpu:check: ${k}: expected a positive integer, got ${v}\n`);
            process.exit(2);
          }
        await check({
          steps: a.steps,
          compare: a.compare,
          size: a.size,
          perDomain: a['per-domain'],
          classes: a.classes,
          out: path.resolve(a.out),
          allowCpu: a['allow-cpu'],
          install: a.install,
          python: a.python,
        });
      },
    )
    .strict()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`gpu:check: ${msg}\n`);
      process.exit(2);
    })
    .parseAsync();
}

if (require.main === module) {
  main().catch((err: Error) => fail(err.message.split('\n')[0]!));
}
