/**
 * `--gpus`: which GPU each local worker gets (gpus.ts, local-executor.ts), the Slurm side (job script,
 * the paper grid's gres), and one real ablation whose two workers each train under their own
 * CUDA_VISIBLE_DEVICES (no GPU here: TensorFlow runs on the CPU, the assignment is what is tested).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseNvidiaSmi } from '@sbir/model';
import { chooseExecutor } from '../src/ablation';
import { loadExperiment } from '../src/grid';
import { describeGpus, parseGpus, resolveGpus, workerGpuEnv } from '../src/gpus';
import type { Lineage } from '../src/lineage';
import { workerLayout } from '../src/local-executor';
import { sbatchArgv } from '../src/slurm/commands';
import { cellSettings, taskBackend } from '../src/slurm/executor';
import { jobScript } from '../src/slurm/submission';
import { childEnv, readJson, runCli, tmpDir, writeTinyExperiment } from './fixtures';

jest.setTimeout(240_000);

// What nvidia-smi prints on a two-GPU machine (`--query-gpu=index,name,memory.total,driver_version,uuid`).
const TWO = () => ({
  gpus: parseNvidiaSmi(
    '0, NVIDIA H100 80GB HBM3, 81559, 550.54.15, GPU-a\n1, NVIDIA H100 80GB HBM3, 81559, 550.54.15, GPU-b\n',
  ),
  error: null,
});
const NO_SMI = () => ({ gpus: [], error: 'nvidia-smi not found' });
const driver = () => true;
const noDriver = () => false;

test('--gpus parses all, none and index lists; anything else is one line naming the option', () => {
  expect(parseGpus('all')).toBe('all');
  expect(parseGpus('none')).toBe('none');
  expect(parseGpus('0,1')).toEqual([0, 1]);
  expect(parseGpus(' 2 ')).toEqual([2]);
  expect(() => parseGpus('0,,1')).toThrow('--gpus "0,,1": expected all, none or GPU indices such as 0,1');
  expect(() => parseGpus('cuda:0')).toThrow(/^--gpus "cuda:0": expected all, none/);
  expect(() => parseGpus('1,1')).toThrow('--gpus 1,1: GPU 1 is listed twice');
});

test('which GPUs are dealt: all from nvidia-smi, a checked list, none, and the default', () => {
  expect(resolveGpus('all', 'auto', TWO, driver)).toEqual(['0', '1']);
  expect(resolveGpus([1], 'auto', TWO, driver)).toEqual(['1']);
  expect(() => resolveGpus([2], 'auto', TWO, driver)).toThrow('--gpus 2: no GPU 2 (nvidia-smi lists 0, 1)');
  expect(resolveGpus('none', 'auto', TWO, driver)).toEqual([]);
  expect(() => resolveGpus('all', 'auto', NO_SMI, driver)).toThrow(
    '--gpus all: cannot list the GPUs (nvidia-smi not found)',
  );
  expect(() => resolveGpus('all', 'auto', () => ({ gpus: [], error: null }), driver)).toThrow(
    '--gpus all: nvidia-smi lists no GPU',
  );
  // an explicit list is taken as given where nvidia-smi cannot be asked
  expect(resolveGpus([0, 3], 'auto', NO_SMI, noDriver)).toEqual(['0', '3']);
  // default: all GPUs for auto / tensorflow-gpu with a driver; the environment as is otherwise
  expect(resolveGpus(undefined, 'auto', TWO, driver)).toEqual(['0', '1']);
  expect(resolveGpus(undefined, 'tensorflow-gpu', TWO, driver)).toEqual(['0', '1']);
  expect(resolveGpus(undefined, 'tensorflow', TWO, driver)).toBeNull();
  expect(resolveGpus(undefined, 'auto', TWO, noDriver)).toBeNull();
  expect(resolveGpus(undefined, 'auto', NO_SMI, driver)).toBeNull();
});

test('each worker gets its own CUDA_VISIBLE_DEVICES and memory growth; one worker per GPU', () => {
  const gpus = ['0', '1'];
  expect([0, 1, 2].map((i) => workerGpuEnv(gpus, i))).toEqual([
    { CUDA_VISIBLE_DEVICES: '0', TF_FORCE_GPU_ALLOW_GROWTH: 'true' },
    { CUDA_VISIBLE_DEVICES: '1', TF_FORCE_GPU_ALLOW_GROWTH: 'true' },
    { CUDA_VISIBLE_DEVICES: '0', TF_FORCE_GPU_ALLOW_GROWTH: 'true' }, // more workers than GPUs: round-robin
  ]);
  expect(workerGpuEnv([], 0)).toEqual({ CUDA_VISIBLE_DEVICES: '-1', TF_FORCE_GPU_ALLOW_GROWTH: 'true' });
  expect(workerGpuEnv(null, 0)).not.toHaveProperty('CUDA_VISIBLE_DEVICES');
  // 16 cores, 4 GPUs: 4 workers x 4 threads (not cores / 2 = 8 workers sharing 4 cards)
  expect(workerLayout(36, 16, undefined, undefined, 4)).toEqual({ workers: 4, threads: 4 });
  expect(workerLayout(3, 16, undefined, undefined, 4)).toEqual({ workers: 3, threads: 5 });
  expect(workerLayout(36, 16, 8, undefined, 4)).toEqual({ workers: 8, threads: 2 });
  expect(workerLayout(36, 16)).toEqual({ workers: 8, threads: 2 });
  expect(describeGpus(['0', '1'], 2)).toBe(', GPU 0,1 (one per worker, CUDA_VISIBLE_DEVICES)');
  expect(describeGpus([], 2)).toBe(', no GPU (CUDA_VISIBLE_DEVICES=-1)');
});

test('Slurm: --gpus is refused; the paper grid asks one GPU per cell; the job script turns memory growth on', () => {
  const exp = loadExperiment('paper-ablation', { dataRoot: '/data', weightsRoot: '/w' });
  expect(() =>
    chooseExecutor({ experiment: 'x', runsDir: 'r', executor: 'slurm', gpus: 'all' }, exp),
  ).toThrow(
    /^--gpus applies to the local executor; with --executor slurm a task trains on the GPUs Slurm grants it \(executor\.gres/,
  );
  for (const cell of exp.cells) {
    const s = cellSettings(exp.executor!, cell.axes);
    const argv = sbatchArgv(s, {
      jobName: 'j',
      tasks: 1,
      outputPattern: 'o',
      chdir: '/r',
      script: 'job.sh',
      requeue: true,
    });
    expect(argv.filter((a) => a.startsWith('--gres'))).toEqual(['--gres=gpu:1']);
    expect(taskBackend('auto', s)).toBe('tensorflow-gpu');
  }
  // zeroshot.yaml: a GPU for the paper-net cells (Sketchy, TU-Berlin), none for the emoji cells
  const zs = loadExperiment('zeroshot', { dataRoot: '/data' });
  for (const cell of zs.cells) {
    const s = cellSettings(zs.executor!, cell.axes);
    const paperNet = cell.axes.dataset !== 'emoji';
    expect([cell.axes.dataset, s.gres ?? null, taskBackend('auto', s)]).toEqual([
      cell.axes.dataset,
      paperNet ? 'gpu:1' : null,
      paperNet ? 'tensorflow-gpu' : 'auto', // auto: the worker picks (no GPU asked for)
    ]);
  }
  const script = jobScript({
    experiment: 'x',
    submission: 's',
    setup: [],
    node: 'node',
    tasksFile: 't',
    gitSha: null,
  });
  expect(script).toContain('export TF_FORCE_GPU_ALLOW_GROWTH="${TF_FORCE_GPU_ALLOW_GROWTH:-true}"');
});

describe('a real ablation', () => {
  let root: string;
  beforeAll(() => (root = tmpDir('gpus')));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('--gpus all without nvidia-smi is one line, exit 2, nothing written', async () => {
    const file = writeTinyExperiment(root, { name: 'noall', grid: '  seed: [0, 1]' });
    const runs = path.join(root, 'runs-noall');
    const r = await runCli(
      ['ablation', '--experiment', file, '--runs-dir', runs, '--gpus', 'all'],
      childEnv({ PATH: '/usr/bin:/bin' }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      'error: --gpus all: cannot list the GPUs (nvidia-smi not found)',
    ]);
    expect(fs.existsSync(runs)).toBe(false);
  });

  test('--gpus 0,1: two workers, one GPU each, in the worker logs and lineage.json', async () => {
    const file = writeTinyExperiment(root, { name: 'two', grid: '  seed: [0, 1]', epochs: 1 });
    const runs = path.join(root, 'runs');
    const args = ['ablation', '--experiment', file, '--runs-dir', runs, '--gpus', '0,1', '--threads', '1'];
    const dry = await runCli([...args, '--dry-run'], childEnv());
    expect(dry.stdout).toContain(
      'local executor: 2 worker(s) x 1 thread(s), GPU 0,1 (one per worker, CUDA_VISIBLE_DEVICES)',
    );
    const r = await runCli(args, childEnv());
    expect(r.code).toBe(0);
    const logsRoot = path.join(runs, 'two', '.logs');
    const [logDir] = fs.readdirSync(logsRoot);
    const logs = fs
      .readdirSync(path.join(logsRoot, logDir!))
      .map((f) => fs.readFileSync(path.join(logsRoot, logDir!, f), 'utf8'));
    const seen = logs.map((l) => /CUDA_VISIBLE_DEVICES=(\S+)/.exec(l)?.[1]).sort();
    expect(seen).toEqual(['0', '1']);
    const cells = readJson<{ cells: string[] }>(path.join(runs, 'two', 'experiment.json')).cells;
    const lineages = cells.map((id) => readJson<Lineage>(path.join(runs, 'two', id, 'lineage.json')));
    // each cell records the GPU its worker was given; no driver here, so TensorFlow trained on the CPU
    for (const l of lineages) {
      expect(['0', '1']).toContain(l.gpu?.cudaVisibleDevices);
      expect(l.gpu?.used).toBe(false);
    }
  });
});
