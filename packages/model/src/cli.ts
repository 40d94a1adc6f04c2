/**
 * `npx nx run model:doctor` (tsx packages/model/src/cli.ts doctor): backend, TensorFlow version,
 * threads, a measured training rate and matmul throughput.
 * `npx nx run model:import -- --from <file> --arch <name> --out <dir>`: checkpoint import
 * (import/importer.ts). Errors print one line; exit code 2 for usage and input errors (a corrupt or
 * mismatched checkpoint included), 1 for failures while running.
 */
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import * as tfc from '@tensorflow/tfjs-core';
import { exitWithError, yargsFailure } from '@sbir/core';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BACKEND_NAMES, BackendInfo, BackendName, initBackend } from './backend';
import { listBlocks } from './blocks/registry';
import { MatmulRate, TrainRate, measureMatmul, measureTrainRate } from './doctor';
import {
  driverFacts,
  listNvidiaGpus,
  loadedCudaLibs,
  parseTfGpuLog,
  whyNoGpu,
  type DriverFacts,
  type LoadedCudaLib,
  type NvidiaSmiResult,
  type TfGpuDevice,
} from './gpu';
import { ImportManifest, ImportOptions, importCheckpoint } from './import/importer';
import { listBackbones } from './backbones';
import { hasGroupedConvGradKernel, setGroupedConvGradRoute } from './conv';

/** What `model:doctor` finds about GPUs (gpu.ts). */
export interface GpuReport {
  installed: boolean;
  cudaVisibleDevices: string | null;
  driver: DriverFacts;
  nvidiaSmi: NvidiaSmiResult;
  /** The GPU devices TensorFlow created, from its log. */
  tfDevices: TfGpuDevice[];
  /** CUDA / cuDNN libraries TensorFlow had loaded after a convolution and a matmul. */
  loaded: LoadedCudaLib[];
  /** Why TensorFlow uses no GPU; null when it uses one. */
  reason: string | null;
}

export interface DoctorReport {
  backend: BackendInfo;
  gpu: GpuReport;
  cpu: { model: string; cores: number };
  matmul: MatmulRate;
  train: TrainRate;
  threadCheck?: { threads: number; gflops: number; coresUsed: number; osThreads: number | null }[];
}

/** Matmul GFLOP/s in a fresh process with TF_NUM_INTRAOP_THREADS / OMP_NUM_THREADS = threads. */
export function matmulInChild(threads: number, n = 1024): MatmulRate {
  const env = {
    ...process.env,
    TF_NUM_INTRAOP_THREADS: String(threads),
    OMP_NUM_THREADS: String(threads),
    TF_CPP_MIN_LOG_LEVEL: '2',
  };
  const r = spawnSync(process.execPath, [...process.execArgv, __filename, 'matmul', '--n', String(n)], {
    env,
    encoding: 'utf8',
  });
  if (r.status !== 0)
    throw new Error(`thread check child failed: ${(r.stderr || '').trim().split('\n').pop()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as MatmulRate;
}

/**
 * Loads tensorflow-gpu in a child process with TensorFlow's log on (its device and dlopen lines go to
 * the child's stderr, which this process can read), runs a convolution and a matmul there so cuDNN
 * and cuBLAS load, and puts together the GPU section of the doctor's report.
 */
export function gpuReport(): GpuReport {
  const installed = moduleResolvable('@tensorflow/tfjs-node-gpu');
  const base = {
    installed,
    cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES ?? null,
    driver: driverFacts(),
    nvidiaSmi: listNvidiaGpus(),
  };
  let tf: ReturnType<typeof parseTfGpuLog> | null = null;
  let loaded: LoadedCudaLib[] = [];
  if (installed) {
    // from the sources (tsx, or jest's transform) the child needs tsx to load this file
    const loader = path.extname(__filename) === '.ts' ? ['--import', 'tsx'] : process.execArgv;
    const r = spawnSync(process.execPath, [...loader, __filename, 'gpu-probe'], {
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    tf = parseTfGpuLog(r.stderr ?? '');
    if (r.status === 0)
      loaded = (JSON.parse(r.stdout.trim().split('\n').pop() as string) as { loaded: LoadedCudaLib[] })
        .loaded;
    else tf.problems.push(`tensorflow-gpu did not load: ${(r.stderr || '').trim().split('\n').pop()}`);
  }
  const reason = whyNoGpu({
    installed,
    cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES,
    driver: base.driver,
    smi: base.nvidiaSmi,
    tf,
  });
  return { ...base, tfDevices: tf?.devices ?? [], loaded, reason };
}

function moduleResolvable(id: string): boolean {
  try {
    require.resolve(id);
    return true;
  } catch {
    return false;
  }
}

/** The child of gpuReport: tensorflow-gpu, a convolution and a matmul, then the mapped CUDA libraries. */
async function gpuProbe(): Promise<void> {
  await initBackend('tensorflow-gpu', { quiet: true });
  tfc.tidy(() => {
    const x = tfc.ones([1, 8, 8, 4]) as tfc.Tensor4D;
    const y = tfc.conv2d(x, tfc.ones([3, 3, 4, 4]) as tfc.Tensor4D, 1, 'same');
    tfc.matMul(tfc.reshape(y, [16, 16]), tfc.ones([16, 16])).dataSync();
  });
  process.stdout.write(`${JSON.stringify({ loaded: loadedCudaLibs() })}\n`);
}

export async function runDoctor(opts: {
  backend: BackendName;
  threads?: number;
  quick?: boolean;
  checkThreads?: boolean;
}): Promise<DoctorReport> {
  const backend = await initBackend(opts.backend, { threads: opts.threads, quiet: true });
  const cpu = backend.name === 'cpu';
  const matmul = measureMatmul({ n: cpu ? 256 : 1024, seconds: opts.quick ? 0.3 : 1 });
  const train = measureTrainRate(
    cpu
      ? { batch: 4, warmup: 1, minSteps: 1, seconds: 0 }
      : { batch: 32, size: 64, seconds: opts.quick ? 1 : 3 },
  );
  const report: DoctorReport = {
    backend,
    gpu: gpuReport(),
    cpu: { model: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length },
    matmul,
    train,
  };
  if (opts.checkThreads && !cpu) {
    // Alternate the settings for a few rounds and keep the best of each (other load on a shared
    // machine only ever slows a run down).
    const counts = [...new Set([1, backend.threads])];
    const best = new Map<number, MatmulRate>();
    for (let round = 0; round < 3; round++) {
      for (const t of counts) {
        const m = matmulInChild(t);
        const prev = best.get(t);
        best.set(t, {
          ...m,
          gflops: Math.max(m.gflops, prev?.gflops ?? 0),
          coresUsed: Math.max(m.coresUsed, prev?.coresUsed ?? 0),
        });
      }
    }
    report.threadCheck = counts.map((t) => {
      const m = best.get(t) as MatmulRate;
      return { threads: t, gflops: m.gflops, coresUsed: m.coresUsed, osThreads: m.osThreads };
    });
  }
  return report;
}

export function formatDoctor(r: DoctorReport): string {
  const b = r.backend;
  const lines = [
    'sbir-lab model doctor',
    `  backend      ${b.name}${b.requested !== b.name ? ` (requested ${b.requested})` : ''}`,
    `  TensorFlow   ${b.tfVersion ?? 'none (pure JavaScript)'}; tfjs ${b.tfjsVersion}${b.oneDNN === null ? '' : `; oneDNN ${b.oneDNN ? 'on' : 'off'}`}`,
    `  threads      ${b.threads}${b.threadSource === 'n/a' ? '' : ` (${b.threadSource === 'default' ? 'TensorFlow default: cores visible' : 'from TF_NUM_INTRAOP_THREADS'})`}${b.interOpThreads ? `, inter-op ${b.interOpThreads}` : ''}`,
    `  cpu          ${r.cpu.model} (${r.cpu.cores} visible)`,
    `  matmul       ${r.matmul.n}x${r.matmul.n} float32: ${r.matmul.gflops.toFixed(1)} GFLOP/s`,
    `  train step   ${r.train.backbone} ${r.train.size}x${r.train.size}, batch ${r.train.batch}, Adam: ${r.train.imagesPerSec.toFixed(1)} images/s (${r.train.steps} steps, ${r.train.seconds.toFixed(1)} s)`,
  ];
  lines.push(...formatGpu(r.gpu));
  if (r.threadCheck) {
    const parts = r.threadCheck.map(
      (t) =>
        `${t.threads} thread${t.threads > 1 ? 's' : ''}: ${t.gflops.toFixed(0)} GFLOP/s, ${t.coresUsed.toFixed(2)} cores busy, ${t.osThreads ?? '?'} OS threads`,
    );
    const [one, many] = r.threadCheck;
    // TensorFlow's pool grows by one OS thread per intra-op thread; CPU time per wall second shows
    // whether they ran in parallel (other load on a shared machine can hide the speed-up).
    let verdict = '';
    if (many) {
      const poolGrew =
        one.osThreads !== null &&
        many.osThreads !== null &&
        many.osThreads - one.osThreads === many.threads - 1;
      const parallel = many.coresUsed > one.coresUsed * 1.3;
      verdict =
        poolGrew || parallel
          ? `the setting takes effect (${[poolGrew ? 'thread pool size' : '', parallel ? 'parallel CPU time' : ''].filter(Boolean).join(', ')})`
          : 'no effect measured';
    }
    lines.push(`  thread check ${parts.join('; ')}`, `               -> ${verdict}`);
  }
  if (b.warning) lines.push('', b.warning);
  return lines.join('\n');
}

/** The doctor's GPU lines: the GPUs TensorFlow sees and the CUDA / cuDNN it loaded, or why none. */
export function formatGpu(g: GpuReport): string[] {
  const smi = g.nvidiaSmi.error
    ? g.nvidiaSmi.error
    : `${g.nvidiaSmi.gpus.length} GPU(s)${g.nvidiaSmi.gpus.length ? `, driver ${g.nvidiaSmi.gpus[0]!.driver}` : ''}`;
  const lines = [
    `  gpu          ${g.reason === null ? g.tfDevices.map((d) => `GPU:${d.index} ${d.name} (${d.memoryMiB} MiB, compute ${d.computeCapability})`).join('; ') : `none: ${g.reason}`}`,
    `  nvidia-smi   ${smi}${g.cudaVisibleDevices !== null ? `; CUDA_VISIBLE_DEVICES=${g.cudaVisibleDevices}` : ''}`,
  ];
  if (g.loaded.length > 0)
    lines.push(
      `  cuda libs    ${g.loaded.map((l) => `${l.lib}${l.version ? ` ${l.version}` : ''}`).join(', ')}`,
    );
  return lines;
}

export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('model')
    .command(
      'doctor',
      'check the backend and measure training and matmul speed',
      (y) =>
        y
          .option('backend', {
            choices: BACKEND_NAMES as BackendName[],
            default: 'auto' as BackendName,
            describe: 'backend to check',
          })
          .option('threads', {
            type: 'number',
            describe: 'TF intra-op threads (sets TF_NUM_INTRAOP_THREADS and OMP_NUM_THREADS)',
          })
          .option('check-threads', {
            type: 'boolean',
            default: false,
            describe: 'measure matmul with 1 thread and with the configured count, in child processes',
          })
          .option('quick', { type: 'boolean', default: false, describe: 'shorter measurements' })
          .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' }),
      async (a) => {
        const report = await runDoctor({
          backend: a.backend,
          threads: a.threads,
          quick: a.quick,
          checkThreads: a['check-threads'],
        });
        process.stdout.write((a.json ? JSON.stringify(report, null, 2) : formatDoctor(report)) + '\n');
      },
    )
    .command('gpu-probe', false, (y) => y, gpuProbe)
    .command(
      'matmul',
      false,
      (y) => y.option('n', { type: 'number', default: 1024 }),
      async (a) => {
        await initBackend('tensorflow', { quiet: true });
        process.stdout.write(JSON.stringify(measureMatmul({ n: a.n, seconds: 1 })) + '\n');
      },
    )
    .command(
      'train-rate',
      false,
      (y) =>
        y
          .option('backbone', { choices: listBackbones(), default: 'resnet-tiny' })
          .option('block', { choices: listBlocks(), default: 'none' })
          .option('width', {
            type: 'number',
            default: 0,
            describe: "stem width (0 = the backbone's own; the demo's resnet-tiny: 16)",
          })
          .option('batch', { type: 'number', default: 64 })
          .option('size', { type: 'number', default: 64 })
          .option('seconds', { type: 'number', default: 4 })
          .option('warmup', { type: 'number', default: 3 })
          .option('min-steps', { type: 'number', default: 3 })
          .option('embedding-dim', { type: 'number', default: 64 })
          .option('classes', { type: 'number', default: 80 })
          .option('grouped-grad', {
            choices: ['auto', 'kernel', 'per-group'] as const,
            default: 'auto' as const,
            describe: 'route of grouped-convolution gradients (conv.ts)',
          }),
      async (a) => {
        // Threads come from the environment (TF_NUM_INTRAOP_THREADS), as in a trainer worker.
        await initBackend('tensorflow', { quiet: true });
        setGroupedConvGradRoute(a.groupedGrad);
        const rate = measureTrainRate({
          backbone: a.backbone,
          block: a.block,
          width: a.width,
          batch: a.batch,
          size: a.size,
          seconds: a.seconds,
          warmup: a.warmup,
          minSteps: a.minSteps,
          embeddingDim: a.embeddingDim,
          numClasses: a.classes,
        });
        process.stdout.write(
          JSON.stringify({ ...rate, groupedGradKernel: hasGroupedConvGradKernel() }) + '\n',
        );
      },
    )
    .command(
      'import',
      'import a published checkpoint (.pth, .safetensors, Keras .h5) as backbone weights',
      (y) =>
        y
          .option('from', { type: 'string', demandOption: true, describe: 'checkpoint file' })
          .option('arch', { type: 'string', demandOption: true, describe: 'registered backbone to map onto' })
          .option('out', {
            type: 'string',
            demandOption: true,
            describe: 'folder to create (model.pretrained)',
          })
          .option('block', {
            choices: listBlocks(),
            describe: "the source's attention block (default: the backbone's, e.g. se for se_resnext*)",
          })
          .option('key', {
            type: 'string',
            describe: 'nested dict holding the state dict (state_dict, model, ...)',
          })
          .option('force', { type: 'boolean', default: false, describe: 'replace an existing --out folder' })
          .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' }),
      async (a) => {
        // Only to build the target's variables (names and shapes); any backend will do.
        await initBackend('auto', { quiet: true });
        const { manifest, out } = await importCheckpoint({
          from: a.from,
          arch: a.arch,
          out: a.out,
          block: a.block,
          key: a.key,
          force: a.force,
          onProgress: a.quiet ? undefined : importProgress(),
        });
        process.stdout.write(formatImport(manifest, out) + '\n');
      },
    )
    .demandCommand(1)
    .strict()
    .help()
    .fail(yargsFailure)
    .parseAsync();
}

type ProgressFn = NonNullable<ImportOptions['onProgress']>;

/** Progress on stderr: one line per phase, and a line per 10% of the tensors mapped. */
function importProgress(): ProgressFn {
  let lastPhase = '';
  let lastDecile = -1;
  return ({ phase, done, total }) => {
    if (phase !== lastPhase) {
      lastPhase = phase;
      lastDecile = -1;
      const what = { hash: 'hashing (sha256)', read: 'reading', map: 'mapping tensors', write: 'writing' }[
        phase
      ];
      process.stderr.write(`import: ${what}...\n`);
    }
    if (phase === 'map' || phase === 'hash') {
      const decile = Math.floor((10 * done) / Math.max(total, 1));
      if (decile > lastDecile && total > 0) {
        lastDecile = decile;
        const unit = phase === 'map' ? 'tensors' : 'MiB';
        const f = (v: number): string => (phase === 'map' ? String(v) : (v / 1048576).toFixed(0));
        process.stderr.write(`import: ${phase} ${f(done)}/${f(total)} ${unit} (${decile * 10}%)\n`);
      }
    }
  };
}

export function formatImport(m: ImportManifest, out: string): string {
  const reasons = new Map<string, number>();
  for (const u of m.unmatched) reasons.set(u.reason, (reasons.get(u.reason) ?? 0) + 1);
  const lines = [
    `imported ${m.mapping.length} tensors of ${m.source.file} (${m.source.format}, sha256 ${m.source.sha256}) onto ${m.arch} (block ${m.block}) -> ${out}`,
    ...m.source.notes.map((n) => `  note: ${n}`),
    ...[...reasons].map(([r, n]) => `  unmatched: ${n} tensor(s): ${r}`),
    m.missing.length === 0
      ? '  every backbone tensor has a source'
      : `  WARNING: ${m.missing.length} backbone tensor(s) without a source keep their initialisation, e.g. ${m.missing
          .slice(0, 3)
          .map((t) => t.target)
          .join(', ')}`,
    `  manifest: ${out}/import.json`,
  ];
  return lines.join('\n');
}

if (require.main === module) {
  main(hideBin(process.argv)).catch((err: unknown) => exitWithError(err));
}
