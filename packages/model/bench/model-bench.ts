/**
 * `npx nx run model:bench`: training throughput of resnet-tiny (the demo's width 16 by default, batch
 * 64, 64x64, 2 threads) on tfjs-node (native TensorFlow) vs PyTorch 2.x CPU (PyPI `torch` in .venv)
 * vs the pure-JS tfjs `cpu` backend (a few steps); the whole demo cell against a PyTorch
 * implementation of it (demo-cell.ts); mAP@all of 5,000 queries x 50,000 gallery x 512-d vs numpy;
 * the paper net's step. Its peers install themselves: scripts/python-venv.sh runs first (a no-op when
 * .venv matches requirements.txt). Writes bench/results/model.json.
 *
 * The machine may be shared: native and PyTorch runs are interleaved for a few rounds, and the best
 * round of each is the headline (interference only slows a run down); medians and CPU-time rates
 * (images per process CPU-second) are recorded too, with the load average before and after.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { exitWithError, yargsFailure } from '@sbir/core';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ensureVenvPython } from '@sbir/core';
import { initBackend } from '../src/backend';
import { TrainRate, measureTrainRate } from '../src/doctor';
import { meanAveragePrecision } from '../src/metrics';
import { Rng } from '../src/rng';
import { demoCellComparison } from './demo-cell';

const ROOT = path.resolve(__dirname, '../../..');

interface TorchRate {
  imagesPerSec: number;
  imagesPerCpuSec: number;
  steps: number;
  seconds: number;
  version: string;
  channelsLast: boolean;
}

function runJson<T>(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): T {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`,
    );
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as T;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const args = await yargs(hideBin(process.argv))
    .option('threads', { type: 'number', default: 2 })
    .option('rounds', { type: 'number', default: 3 })
    .option('seconds', { type: 'number', default: 4, describe: 'timed seconds per training measurement' })
    .option('blocks', {
      type: 'string',
      default: 'none,se,dase',
      describe: 'the demo grid trains se and dase; none is the plain net',
    })
    .option('width', { type: 'number', default: 16, describe: 'resnet-tiny width (the demo: 16)' })
    .option('demo-cell', { type: 'boolean', default: true, describe: 'time the whole demo cell vs PyTorch' })
    .option('demo-cell-rounds', { type: 'number', default: 2 })
    .option('demo-cell-steps', { type: 'number', default: 400, describe: 'training steps (the demo: 400)' })
    .option('demo-cell-steps-per-epoch', { type: 'number', default: 100 })
    .option('demo-cell-profile', {
      type: 'boolean',
      default: true,
      describe: "one more cell of ours under V8's CPU profiler",
    })
    .option('data-root', {
      type: 'string',
      default: process.env.SBIR_DATA_ROOT ?? path.join(ROOT, 'data'),
      describe: 'folder holding emoji-64 (prepared on first use)',
    })
    .option('skip-cpu', { type: 'boolean', default: false })
    .option('single-thread-rounds', {
      type: 'number',
      default: 3,
      describe: 'rounds of the 1-thread CPU-time comparison (0 = skip)',
    })
    .option('skip-eval', { type: 'boolean', default: false })
    .option('queries', { type: 'number', default: 5000 })
    .option('gallery', { type: 'number', default: 50000 })
    .option('dim', { type: 'number', default: 512 })
    .option('out', { type: 'string', default: path.join(ROOT, 'bench/results/model.json') })
    .option('paper-scale', {
      type: 'boolean',
      default: true,
      describe: 'also time se_resnext50_32x4d at 224 px, batch 16 (slow: minutes per engine on 2 cores)',
    })
    .option('paper-steps', { type: 'number', default: 2, describe: 'timed steps per paper-scale run' })
    .option('only-demo-cell', {
      type: 'boolean',
      default: false,
      describe: 'run only the whole-demo-cell comparison and update `demoCell` in an existing --out file',
    })
    .option('only-paper-scale', {
      type: 'boolean',
      default: false,
      describe: 'run only the paper-scale comparison and update `paperScale` in an existing --out file',
    })
    .strict()
    .fail(yargsFailure)
    .parseAsync();
  const PY = ensureVenvPython(); // the peers: PyTorch 2.x, numpy (scripts/python-venv.sh, once)
  const log = (s: string): void => void process.stderr.write(s + '\n');
  const demoCellRun = (): Record<string, unknown> =>
    demoCellComparison({
      root: ROOT,
      python: PY,
      threads: args.threads,
      rounds: args['demo-cell-rounds'],
      dataRoot: path.resolve(args['data-root']),
      block: 'se',
      loss: 'mems',
      seed: 0,
      steps: args['demo-cell-steps'],
      stepsPerEpoch: args['demo-cell-steps-per-epoch'],
      profile: args['demo-cell-profile'],
      log,
    });
  if (args['only-demo-cell']) {
    const previous = fs.existsSync(args.out) ? (JSON.parse(fs.readFileSync(args.out, 'utf8')) as object) : {};
    const demoCell = demoCellRun();
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    fs.writeFileSync(args.out, JSON.stringify({ ...previous, demoCell }, null, 2) + '\n');
    process.stdout.write(JSON.stringify({ demoCell: demoCell.ratioOursOverPytorch }) + '\n');
    return;
  }
  if (args['only-paper-scale']) {
    const previous = fs.existsSync(args.out) ? (JSON.parse(fs.readFileSync(args.out, 'utf8')) as object) : {};
    const paperScale = paperScaleComparison(PY, args.threads, args['paper-steps']);
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    fs.writeFileSync(args.out, JSON.stringify({ ...previous, paperScale }, null, 2) + '\n');
    process.stdout.write(JSON.stringify({ paperScale: paperScale.ratios }) + '\n');
    return;
  }
  const loadStart = os.loadavg();
  const backend = await initBackend('tensorflow', { threads: args.threads, quiet: true });
  log(`backend ${backend.name} TF ${backend.tfVersion}, ${backend.threads} threads`);
  const threadEnv = { OMP_NUM_THREADS: String(args.threads), MKL_NUM_THREADS: String(args.threads) };

  // ---- training throughput ----
  const training: Record<string, unknown>[] = [];
  let torchVersion = '';
  for (const block of args.blocks.split(',') as ('none' | 'se' | 'dase')[]) {
    const native: TrainRate[] = [];
    const torch: TorchRate[] = [];
    const torchCl: TorchRate[] = [];
    const torchPassive: TorchRate[] = [];
    for (let r = 0; r < args.rounds; r++) {
      native.push(
        measureTrainRate({ batch: 64, size: 64, block, width: args.width, seconds: args.seconds, warmup: 3 }),
      );
      const targs = [
        path.join(__dirname, 'torch_bench.py'),
        '--threads',
        String(args.threads),
        '--block',
        block,
        '--seconds',
        String(args.seconds),
        '--width',
        String(args.width),
      ];
      torch.push(runJson<TorchRate>(PY, targs, threadEnv));
      torchCl.push(runJson<TorchRate>(PY, [...targs, '--channels-last'], threadEnv));
      // libgomp's spinning workers collapse under other load; passive waiting is PyTorch's best case then.
      torchPassive.push(runJson<TorchRate>(PY, targs, { ...threadEnv, OMP_WAIT_POLICY: 'PASSIVE' }));
      torchVersion = torch[0].version;
      log(
        `train ${block} round ${r + 1}: tfjs-node ${native[r].imagesPerSec.toFixed(0)}, torch ${torch[r].imagesPerSec.toFixed(0)}, ` +
          `channels_last ${torchCl[r].imagesPerSec.toFixed(0)}, OMP passive ${torchPassive[r].imagesPerSec.toFixed(0)} img/s`,
      );
    }
    const best = (xs: { imagesPerSec: number }[]): number => Math.max(...xs.map((x) => x.imagesPerSec));
    const bestTorch = Math.max(best(torch), best(torchCl), best(torchPassive));
    training.push({
      block,
      tfjsNative: {
        best: round1(best(native)),
        median: round1(median(native.map((x) => x.imagesPerSec))),
        imagesPerCpuSec: round1(median(native.map((x) => x.imagesPerCpuSec))),
        rounds: native.map((x) => round1(x.imagesPerSec)),
      },
      pytorch: {
        best: round1(best(torch)),
        median: round1(median(torch.map((x) => x.imagesPerSec))),
        imagesPerCpuSec: round1(median(torch.map((x) => x.imagesPerCpuSec))),
        rounds: torch.map((x) => round1(x.imagesPerSec)),
      },
      pytorchChannelsLast: {
        best: round1(best(torchCl)),
        median: round1(median(torchCl.map((x) => x.imagesPerSec))),
        imagesPerCpuSec: round1(median(torchCl.map((x) => x.imagesPerCpuSec))),
        rounds: torchCl.map((x) => round1(x.imagesPerSec)),
      },
      pytorchOmpPassive: {
        best: round1(best(torchPassive)),
        median: round1(median(torchPassive.map((x) => x.imagesPerSec))),
        imagesPerCpuSec: round1(median(torchPassive.map((x) => x.imagesPerCpuSec))),
        rounds: torchPassive.map((x) => round1(x.imagesPerSec)),
      },
      ratioNativeOverPytorch: round3(best(native) / bestTorch),
      // Same-round ratios: each round measures both engines within seconds of each other.
      ratioPerRound: native.map((x, i) =>
        round3(
          x.imagesPerSec /
            Math.max(torch[i].imagesPerSec, torchCl[i].imagesPerSec, torchPassive[i].imagesPerSec),
        ),
      ),
      // PyTorch's configuration with the best median, then best of rounds on both sides: the same
      // number of draws per engine (the ratio above takes PyTorch's best of three times as many runs).
      ...equalDraws(native, { nchw: torch, channelsLast: torchCl, ompPassive: torchPassive }),
      ratioNativeOverPytorchMedian: round3(
        median(native.map((x) => x.imagesPerSec)) /
          Math.max(...[torch, torchCl, torchPassive].map((xs) => median(xs.map((x) => x.imagesPerSec)))),
      ),
    });
  }

  // ---- one thread each, images per CPU-second: kernel efficiency, insensitive to other load ----
  const singleThread: Record<string, unknown>[] = [];
  if (args['single-thread-rounds'] > 0) {
    const one = {
      TF_NUM_INTRAOP_THREADS: '1',
      TF_NUM_INTEROP_THREADS: '1',
      OMP_NUM_THREADS: '1',
      MKL_NUM_THREADS: '1',
      TF_CPP_MIN_LOG_LEVEL: '2',
    };
    const cli = path.join(__dirname, '../src/cli.ts');
    for (const block of args.blocks.split(',') as ('none' | 'se' | 'dase')[]) {
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < args['single-thread-rounds']; r++) {
        const n = runJson<TrainRate>(
          process.execPath,
          [
            ...process.execArgv,
            cli,
            'train-rate',
            '--block',
            block,
            '--width',
            String(args.width),
            '--seconds',
            String(args.seconds),
          ],
          one,
        );
        const targs = [
          path.join(__dirname, 'torch_bench.py'),
          '--threads',
          '1',
          '--block',
          block,
          '--seconds',
          String(args.seconds),
          '--width',
          String(args.width),
        ];
        const t = Math.max(
          runJson<TorchRate>(PY, targs, one).imagesPerCpuSec,
          runJson<TorchRate>(PY, [...targs, '--channels-last'], one).imagesPerCpuSec,
        );
        ours.push(n.imagesPerCpuSec);
        theirs.push(t);
        log(
          `1 thread ${block} round ${r + 1}: tfjs-node ${n.imagesPerCpuSec.toFixed(0)}, torch (best layout) ${t.toFixed(0)} images per CPU-second`,
        );
      }
      singleThread.push({
        block,
        tfjsNativeImagesPerCpuSec: ours.map(round1),
        pytorchImagesPerCpuSec: theirs.map(round1),
        ratioMedian: round3(median(ours) / median(theirs)),
      });
    }
  }

  // ---- evaluation: ours vs numpy ----
  let evaluation: Record<string, unknown> | null = null;
  if (!args['skip-eval']) {
    const { queries: nq, gallery: ng, dim } = args;
    const classes = 125;
    const rng = new Rng(7);
    const centres = rng.normalArray(classes * dim);
    const make = (n: number): { f: Float32Array; l: Int32Array } => {
      const l = Int32Array.from({ length: n }, () => rng.int(classes));
      const f = new Float32Array(n * dim);
      for (let i = 0; i < n; i++)
        for (let d = 0; d < dim; d++) f[i * dim + d] = 0.3 * centres[l[i] * dim + d] + rng.normal();
      return { f, l };
    };
    const q = make(nq);
    const g = make(ng);
    const t0 = performance.now();
    const ours = meanAveragePrecision(q.f, g.f, dim, q.l, g.l);
    const oursSec = (performance.now() - t0) / 1000;
    log(`eval ours: mAP ${ours.toFixed(5)} in ${oursSec.toFixed(2)} s`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-eval-'));
    const prefix = path.join(dir, 'x');
    fs.writeFileSync(prefix + 'q.f32', Buffer.from(q.f.buffer));
    fs.writeFileSync(prefix + 'g.f32', Buffer.from(g.f.buffer));
    fs.writeFileSync(prefix + 'ql.i32', Buffer.from(q.l.buffer));
    fs.writeFileSync(prefix + 'gl.i32', Buffer.from(g.l.buffer));
    const np = runJson<{ mAP: number; seconds: number; version: string }>(
      PY,
      [
        path.join(__dirname, 'numpy_map.py'),
        '--prefix',
        prefix,
        '--nq',
        String(nq),
        '--ng',
        String(ng),
        '--dim',
        String(dim),
      ],
      threadEnv,
    );
    fs.rmSync(dir, { recursive: true, force: true });
    log(`eval numpy: mAP ${np.mAP.toFixed(5)} in ${np.seconds.toFixed(2)} s`);
    evaluation = {
      queries: nq,
      gallery: ng,
      dim,
      classes,
      metric: 'mAP@all, squared Euclidean, ties by gallery index',
      tfjsNative: { seconds: round3(oursSec), mAP: ours },
      numpy: { seconds: round3(np.seconds), mAP: np.mAP, version: np.version },
      speedupOverNumpy: round3(np.seconds / oursSec),
      mAPAbsDiff: Math.abs(ours - np.mAP),
    };
  }

  // ---- pure-JS cpu backend (last: switching back and forth is fine, but it is slow) ----
  let cpu: Record<string, unknown> | null = null;
  if (!args['skip-cpu']) {
    await initBackend('cpu', { quiet: true });
    const r = measureTrainRate({ batch: 16, size: 64, block: 'none', warmup: 1, minSteps: 1, seconds: 0 });
    cpu = {
      imagesPerSec: round3(r.imagesPerSec),
      batch: r.batch,
      steps: r.steps,
      seconds: round1(r.seconds),
      note: 'batch 16 (per-image cost does not depend on the batch here); one timed step after one warm-up',
    };
    log(`cpu backend: ${r.imagesPerSec.toFixed(2)} img/s`);
    await initBackend('tensorflow', { quiet: true });
  }

  const demoCell = args['demo-cell'] ? demoCellRun() : null;
  const paperScale = args['paper-scale'] ? paperScaleComparison(PY, args.threads, args['paper-steps']) : null;

  const result = {
    benchmark: 'model',
    description:
      'Training throughput (images/s) of resnet-tiny (3x3/2 stem, one basic block per stage at width x 1/2/4/8 planes (`width`; the demo: 16), BatchNorm, GAP, 64-d embedding, softmax classifier over 80 classes), batch 64, 64x64 uint8 input normalised on the fly, Adam with weight decay, same thread count for all engines; best of interleaved rounds (medians, same-round ratios and images per CPU-second also given). ratioNativeOverPytorch = tfjs-node best / best of PyTorch NCHW, channels_last and NCHW with OMP_WAIT_POLICY=PASSIVE (the best PyTorch run of three times as many); ratioEqualDraws = tfjs-node best / best of the PyTorch configuration with the highest median (pytorchConfiguration), the same number of runs each. The tfjs-node steps use the input pipeline `none` (ImageNet mean/std of the uint8 batch), as the PyTorch peer. singleThreadCpuTime: the same networks with 1 thread per engine, images per process CPU-second (median of rounds; PyTorch best of NCHW and channels_last) - compares kernel efficiency independently of other load on the machine. Evaluation: mAP@all time for queries x gallery x dim float32 features (synthetic, class-structured), ours vs a numpy implementation (BLAS distances + stable argsort).',
    date: new Date().toISOString(),
    machine: {
      platform: `${os.platform()} ${os.release()}`,
      arch: os.arch(),
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      totalMemGiB: round1(os.totalmem() / 2 ** 30),
      node: process.version,
      loadAverage: { start: loadStart.map(round1), end: os.loadavg().map(round1) },
    },
    threads: args.threads,
    width: args.width,
    versions: {
      tensorflow: backend.tfVersion,
      tfjs: backend.tfjsVersion,
      pytorch: torchVersion,
      oneDNN: backend.oneDNN,
    },
    training,
    singleThreadCpuTime: singleThread,
    cpuBackend: cpu,
    evaluation,
    demoCell,
    paperScale,
  };
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, JSON.stringify(result, null, 2) + '\n');
  log(`wrote ${args.out}`);
  process.stdout.write(
    JSON.stringify({
      training: training.map((t) => ({
        block: t.block,
        ratio: t.ratioNativeOverPytorch,
        ratioEqualDraws: t.ratioEqualDraws,
        perRound: t.ratioPerRound,
      })),
      singleThread: singleThread.map((t) => ({ block: t.block, ratio: t.ratioMedian })),
      evaluation: evaluation?.speedupOverNumpy,
      demoCell: demoCell?.ratioOursOverPytorch,
      cpu: cpu?.imagesPerSec,
    }) + '\n',
  );
}

/** Ours against PyTorch's configuration with the best median, best of rounds each. */
function equalDraws(
  native: { imagesPerSec: number }[],
  variants: Record<string, { imagesPerSec: number }[]>,
): { pytorchConfiguration: string; ratioEqualDraws: number } {
  const med = (xs: { imagesPerSec: number }[]): number => median(xs.map((x) => x.imagesPerSec));
  const top = (xs: { imagesPerSec: number }[]): number => Math.max(...xs.map((x) => x.imagesPerSec));
  const [name, runs] = Object.entries(variants).sort((a, b) => med(b[1]) - med(a[1]))[0]!;
  return { pytorchConfiguration: name, ratioEqualDraws: round3(top(native) / top(runs)) };
}

/**
 * The paper's network at the paper's input: SE-ResNeXt-50 32x4d (Cadene's layout, SE with the
 * authors' sigmoid), 224 px, batch 16, 512-d embedding, softmax over 100 classes, Adam; one process
 * per run with the same thread count. Ours twice: grouped-convolution gradients as one oneDNN kernel
 * (the default: initBackend sets TF_ENABLE_ONEDNN_OPTS=1) and group by group (what TensorFlow's Eigen
 * kernels leave, conv.ts). PyTorch NCHW and channels_last, the same network (sbir_py.reference_nets).
 */
function paperScaleComparison(
  PY: string,
  threads: number,
  steps: number,
): Record<string, unknown> & { ratios: object } {
  const log = (s: string): void => void process.stderr.write(s + '\n');
  const env = {
    TF_NUM_INTRAOP_THREADS: String(threads),
    TF_NUM_INTEROP_THREADS: String(threads),
    OMP_NUM_THREADS: String(threads),
    MKL_NUM_THREADS: String(threads),
    TF_CPP_MIN_LOG_LEVEL: '2',
  };
  const common = ['--block', 'se', '--batch', '16', '--size', '224', '--seconds', '0'];
  const cli = path.join(__dirname, '../src/cli.ts');
  const ours = (route: 'auto' | 'per-group'): TrainRate & { groupedGradKernel: boolean } =>
    runJson(
      process.execPath,
      [
        ...process.execArgv,
        cli,
        'train-rate',
        '--backbone',
        'se_resnext50_32x4d',
        ...common,
        '--warmup',
        '1',
        '--min-steps',
        String(steps),
        '--embedding-dim',
        '512',
        '--classes',
        '100',
        '--grouped-grad',
        route,
      ],
      env,
    );
  const torch = (channelsLast: boolean): TorchRate => {
    const targs = [path.join(__dirname, 'torch_bench.py'), '--arch', 'se_resnext50_32x4d', ...common];
    targs.push('--threads', String(threads), '--warmup', '1', '--steps', String(steps), '--classes', '100');
    return runJson<TorchRate>(PY, channelsLast ? [...targs, '--channels-last'] : targs, env);
  };
  const loadStart = os.loadavg();
  const oursPerGroup = ours('per-group');
  log(`paper scale, ours (grouped gradients per group): ${oursPerGroup.imagesPerSec.toFixed(2)} img/s`);
  const oursKernel = ours('auto');
  log(`paper scale, ours (grouped gradient kernel): ${oursKernel.imagesPerSec.toFixed(2)} img/s`);
  const tNchw = torch(false);
  log(`paper scale, PyTorch NCHW: ${tNchw.imagesPerSec.toFixed(2)} img/s`);
  const tCl = torch(true);
  log(`paper scale, PyTorch channels_last: ${tCl.imagesPerSec.toFixed(2)} img/s`);
  const pick = (r: { imagesPerSec: number; imagesPerCpuSec: number; steps: number; seconds: number }) => ({
    imagesPerSec: round3(r.imagesPerSec),
    imagesPerCpuSec: round3(r.imagesPerCpuSec),
    steps: r.steps,
    seconds: round1(r.seconds),
  });
  const bestOurs = Math.max(oursPerGroup.imagesPerSec, oursKernel.imagesPerSec);
  const bestTorch = Math.max(tNchw.imagesPerSec, tCl.imagesPerSec);
  const bestOursCpu = Math.max(oursPerGroup.imagesPerCpuSec, oursKernel.imagesPerCpuSec);
  const bestTorchCpu = Math.max(tNchw.imagesPerCpuSec, tCl.imagesPerCpuSec);
  return {
    description:
      'se_resnext50_32x4d (Cadene layout, SE sigmoid), 224x224, batch 16, 512-d embedding, softmax over 100 classes, Adam; one warm-up step then the timed steps; same thread count; one run per engine (a step takes tens of seconds on 2 cores)',
    date: new Date().toISOString(),
    threads,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    loadAverage: { start: loadStart.map(round1), end: os.loadavg().map(round1) },
    tfjsNativeGroupedKernel: { ...pick(oursKernel), groupedGradKernel: oursKernel.groupedGradKernel },
    tfjsNativePerGroupGrad: pick(oursPerGroup),
    pytorch: pick(tNchw),
    pytorchChannelsLast: pick(tCl),
    ratios: {
      imagesPerSec: round3(bestOurs / bestTorch),
      imagesPerCpuSec: round3(bestOursCpu / bestTorchCpu),
    },
  };
}

main().catch((e: unknown) => exitWithError(e));
