/**
 * The whole demo cell, timed: our cell (the trainer's `ablation` CLI running one cell of
 * experiments/demo.yaml, one worker, the given threads, in a fresh run store) against
 * torch_demo_cell.py, a PyTorch implementation of the same cell on the same shards. Rounds are
 * interleaved (the order alternates); wall seconds from process start to exit are the headline.
 * PyTorch runs with OMP_WAIT_POLICY=PASSIVE: on a shared machine libgomp's spinning workers collapse
 * (56 vs 388 images/s for the demo net at a load average of 7, 2026-12-07), so passive waiting is
 * PyTorch's best case there (on a quieter machine it cost PyTorch 24 %: 333 vs 436 images/s in the
 * training section of 2026-12-01, which therefore keeps both columns).
 *
 * Then one more run of our cell under V8's CPU profiler (cpu-profile-preload.cjs) says where its
 * time goes beyond the training step: each CPU sample is filed under the outermost phase on its stack (final evaluation, epoch
 * evaluations, checkpoints, augmentation inside the training step, the training step, shard reading,
 * logging and status) and the rest is startup (module loading, TensorFlow, dataset verification).
 * Children are run as argv arrays (no shell); the trainer is reached as a program, not imported, so
 * @sbir/model keeps depending on nothing above it.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface DemoCellOptions {
  root: string;
  python: string;
  threads: number;
  rounds: number;
  dataRoot: string;
  block: 'se' | 'dase';
  loss: 'mems' | 'softmax';
  seed: number;
  /** Training steps and steps per epoch: the demo's 400 / 100 unless a shorter run is asked for. */
  steps: number;
  stepsPerEpoch: number;
  profile: boolean;
  log: (line: string) => void;
}

interface OursRun {
  wallSeconds: number;
  trainSeconds: number;
  finalEvalSeconds: number;
  epochEvalSeconds: number;
  mapAll: number;
  stepImagesPerSec: number;
  /** Wall seconds by phase from the run store (see breakdown()). */
  phases: Record<string, number>;
}

interface TorchRun {
  totalSeconds: number;
  trainLoopSeconds: number;
  seconds: Record<string, number>;
  imagesPerSecStep: number;
  'mAP@all': number;
  version: string;
  wallSeconds: number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): { out: string; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 64 << 20,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0)
    throw new Error(
      `${path.basename(cmd)} ${args.slice(0, 3).join(' ')} … failed (${r.status ?? r.signal}): ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`,
    );
  return { out: r.stdout, seconds };
}

/** data/emoji-64 as the demo prepares it (category split, seed 0), made once if it is missing. */
function ensureDemoData(o: DemoCellOptions): string {
  const dir = path.join(o.dataRoot, 'emoji-64');
  if (!fs.existsSync(path.join(dir, 'manifest.json'))) {
    o.log(`demo cell: preparing ${dir} (once)`);
    const cli = path.join(o.root, 'packages/data/src/cli.ts');
    run(
      tsx(o.root),
      [cli, 'prepare', '--dataset', 'emoji', '--size', '64', '--out', dir, '--quiet'],
      {},
      o.root,
    );
  }
  return dir;
}

const tsx = (root: string): string => path.join(root, 'node_modules', '.bin', 'tsx');

function findFile(dir: string, name: string): string {
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name === name) return path.join(e.parentPath, e.name);
  }
  throw new Error(`${dir}: no ${name} (did the cell finish?)`);
}

/** One cell through the trainer's CLI in a fresh run store; `env` adds e.g. NODE_OPTIONS for profiling. */
function runOurs(o: DemoCellOptions, env: NodeJS.ProcessEnv = {}): OursRun {
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-demo-cell-'));
  try {
    const args = [path.join(o.root, 'packages/trainer/src/cli.ts'), 'ablation', '--experiment', 'demo'];
    args.push('--only', `block=${o.block}`, '--only', `loss=${o.loss}`, '--only', `seed=${o.seed}`);
    args.push(
      '--runs-dir',
      runs,
      '--data-root',
      o.dataRoot,
      '--workers',
      '1',
      '--threads',
      String(o.threads),
    );
    args.push('--tracking-uri', '');
    args.push(`train.steps=${o.steps}`, `train.stepsPerEpoch=${o.stepsPerEpoch}`); // Hydra-style overrides
    let seconds: number;
    try {
      ({ seconds } = run(tsx(o.root), args, { TF_CPP_MIN_LOG_LEVEL: '2', ...env }, o.root));
    } catch (e) {
      // the CLI reports a lost worker on stdout; the cause is the last line of the worker's log
      const log = fs.readdirSync(runs, { recursive: true }).find((f) => /worker-\d+\.log$/.test(String(f)));
      const last = log
        ? fs
            .readFileSync(path.join(runs, String(log)), 'utf8')
            .trim()
            .split('\n')
            .pop()
        : '';
      throw new Error(`${(e as Error).message}${last ? ` worker log: ${last}` : ''}`);
    }
    const evalJson = JSON.parse(fs.readFileSync(findFile(runs, 'eval.json'), 'utf8')) as Record<
      string,
      number
    >;
    const lines = fs
      .readFileSync(findFile(runs, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, number | string>);
    const stepLines = lines.filter((l) => l.kind === 'step');
    const epochEval = lines
      .filter((l) => l.kind === 'epoch')
      .reduce((s, l) => s + Number(l.evalSeconds ?? 0), 0);
    const r = {
      wallSeconds: seconds,
      trainSeconds: evalJson.trainSeconds!,
      finalEvalSeconds: evalJson.evalSeconds!,
      epochEvalSeconds: epochEval,
      mapAll: evalJson['mAP@all']!,
      stepImagesPerSec: median(stepLines.map((l) => Number(l.imagesPerSec))),
    };
    return { ...r, phases: breakdown(r, stepLines, BATCH) };
  } finally {
    fs.rmSync(runs, { recursive: true, force: true });
  }
}

/** Images per step of the demo (experiments/demo.yaml train.batchSize). */
const BATCH = 64;

/**
 * Wall seconds of our cell by phase, from what the run store records: the step lines' images/s cover
 * the logging intervals (shard reading, augmentation, the step; the trainer leaves evaluation time
 * out), epoch lines their evaluation, eval.json the final evaluation and the training segment. What
 * the training segment holds beyond those is checkpoints, metric lines and status writes; what the
 * process holds beyond both is startup (Node, TensorFlow, dataset verification, the worker) and the
 * closing summary.
 */
function breakdown(
  r: Omit<OursRun, 'phases'>,
  steps: Record<string, number | string>[],
  batch: number,
): Record<string, number> {
  let prev = 0;
  let stepSeconds = 0;
  for (const l of steps) {
    stepSeconds += ((Number(l.step) - prev) * batch) / Number(l.imagesPerSec);
    prev = Number(l.step);
  }
  return {
    'training steps (reading, augmentation, step)': round3(stepSeconds),
    'epoch evaluations': round3(r.epochEvalSeconds),
    'checkpoints, metric lines, status': round3(r.trainSeconds - r.epochEvalSeconds - stepSeconds),
    'final evaluation': round3(r.finalEvalSeconds),
    'startup and shutdown': round3(r.wallSeconds - r.trainSeconds - r.finalEvalSeconds),
  };
}

function runTorch(o: DemoCellOptions, data: string): TorchRun {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-torch-cell-'));
  try {
    const args = [path.join(__dirname, 'torch_demo_cell.py'), '--data', data, '--out', out];
    args.push('--block', o.block, '--loss', o.loss, '--seed', String(o.seed), '--threads', String(o.threads));
    args.push('--steps', String(o.steps), '--steps-per-epoch', String(o.stepsPerEpoch));
    const env = {
      OMP_NUM_THREADS: String(o.threads),
      MKL_NUM_THREADS: String(o.threads),
      OMP_WAIT_POLICY: 'PASSIVE', // see the header
    };
    const r = run(o.python, args, env, o.root);
    return { ...(JSON.parse(r.out.trim().split('\n').pop()!) as TorchRun), wallSeconds: r.seconds };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/**
 * The phase a stack belongs to. Stacks resumed after an `await` start at the awaiting function (the
 * evaluation's embedSubset, the reader's generators), not at runCell, so the rules look for the
 * frames that name a phase anywhere on the stack, outermost first.
 */
export function phaseOf(stack: { functionName: string; url: string }[]): string {
  const has = (test: (f: { functionName: string; url: string }) => boolean): boolean => stack.some(test);
  if (has((f) => f.functionName === 'finalEvaluation'))
    return has((f) => f.functionName === 'embedSubset')
      ? 'final evaluation: embedding'
      : 'final evaluation: ranking, centre hash, output files';
  if (has((f) => f.functionName === 'quickEvaluation')) return 'epoch evaluations: ranking';
  if (has((f) => f.functionName === 'embedSubset')) return 'evaluation embedding (epoch or final)';
  if (has((f) => f.functionName === 'dumpCheckpoint' || /trainer\/src\/checkpoint/.test(f.url)))
    return 'checkpoints';
  if (has((f) => f.functionName === 'trainStep'))
    return has((f) => /model\/src\/augment/.test(f.url)) ? 'augmentation' : 'training step';
  if (has((f) => /data\/src\/|apache-arrow/.test(f.url))) return 'shard reading';
  if (has((f) => /trainer\/src\/(run-store|progress|protocol)/.test(f.url))) return 'logging and status';
  if (has((f) => /node:internal\/modules|\/esm\/|cjs\/loader/.test(f.url) || f.functionName === 'require'))
    return 'module loading';
  return 'other';
}

/** CPU seconds by phase from a V8 .cpuprofile (samples x their time deltas). */
export function profilePhases(profile: {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}): Record<string, number> {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const phaseById = new Map<number, string>();
  const phaseFor = (id: number): string => {
    const known = phaseById.get(id);
    if (known) return known;
    const stack: ProfileNode['callFrame'][] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur))
      stack.unshift(byId.get(cur)!.callFrame);
    const leaf = stack[stack.length - 1]!.functionName;
    const p =
      leaf === '(idle)'
        ? 'idle (waiting on I/O)'
        : leaf === '(garbage collector)'
          ? 'garbage collection'
          : phaseOf(stack);
    phaseById.set(id, p);
    return p;
  };
  const out: Record<string, number> = {};
  profile.samples.forEach((id, i) => {
    const p = phaseFor(id);
    out[p] = (out[p] ?? 0) + (profile.timeDeltas[i] ?? 0) / 1e6;
  });
  return Object.fromEntries(
    Object.entries(out)
      .map(([k, v]): [string, number] => [k, round3(v)])
      .sort((a, b) => b[1] - a[1]),
  );
}

function profiledRun(o: DemoCellOptions): Record<string, unknown> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-cell-prof-'));
  try {
    const preload = path.join(__dirname, 'cpu-profile-preload.cjs');
    const r = runOurs(o, {
      NODE_OPTIONS: `--require ${preload}`,
      SBIR_CPU_PROFILE_DIR: dir,
      SBIR_CPU_PROFILE_INTERVAL_US: '10000', // 10 ms: enough for phases, and less intrusive than 1 ms
    });
    // the CLI process and its worker each write one profile: the worker's is the one running the cell
    const phases = fs
      .readdirSync(dir)
      .map((f) => profilePhases(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))))
      .sort((a, b) => (b['training step'] ?? 0) - (a['training step'] ?? 0))[0];
    return { wallSeconds: round3(r.wallSeconds), workerPhaseSeconds: phases };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function demoCellComparison(o: DemoCellOptions): Record<string, unknown> {
  const data = ensureDemoData(o);
  const ours: OursRun[] = [];
  const torch: TorchRun[] = [];
  const loadStart = os.loadavg();
  for (let r = 0; r < o.rounds; r++) {
    // alternate which engine goes first, so a drift in load does not favour one
    const pair =
      r % 2 === 0
        ? [() => ours.push(runOurs(o)), () => torch.push(runTorch(o, data))]
        : [() => torch.push(runTorch(o, data)), () => ours.push(runOurs(o))];
    pair.forEach((f) => f());
    o.log(
      `demo cell round ${r + 1}: ours ${ours[r]!.wallSeconds.toFixed(1)} s (mAP@all ${ours[r]!.mapAll.toFixed(4)}), ` +
        `PyTorch ${torch[r]!.wallSeconds.toFixed(1)} s (mAP@all ${torch[r]!['mAP@all'].toFixed(4)})`,
    );
  }
  let profile: Record<string, unknown> | null = null;
  try {
    profile = o.profile ? profiledRun(o) : null;
  } catch (e) {
    // the profiler is a diagnostic: a cell that fails under it is recorded, not fatal to the bench
    // (one worker died of a heap abort in the final evaluation under 1 ms sampling, 2026-12-07)
    profile = { error: (e as Error).message };
    o.log(`demo cell profile failed: ${(e as Error).message}`);
  }
  if (profile)
    o.log(`demo cell profile (CPU seconds by phase): ${JSON.stringify(profile.workerPhaseSeconds)}`);
  const best = (xs: number[]): number => Math.min(...xs);
  return {
    description: `one cell of experiments/demo.yaml (block ${o.block}, loss ${o.loss}, seed ${o.seed}: resnet-tiny width 16, ${o.steps} steps of 32 + 32 (the demo: 400), crop-flip, an evaluation every ${o.stepsPerEpoch} steps on 1500 gallery photos + checkpoints, final evaluation with flips and the 64-bit centre hash), wall seconds from process start to exit; ours = the trainer's ablation CLI (one worker), PyTorch = packages/model/bench/torch_demo_cell.py on the same shards; interleaved rounds, best round is the headline`,
    cell: { block: o.block, loss: o.loss, seed: o.seed, steps: o.steps, stepsPerEpoch: o.stepsPerEpoch },
    threads: o.threads,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    loadAverage: { start: loadStart.map(round3), end: os.loadavg().map(round3) },
    ours: {
      wallSeconds: ours.map((x) => round3(x.wallSeconds)),
      trainSeconds: ours.map((x) => round3(x.trainSeconds)),
      epochEvalSeconds: ours.map((x) => round3(x.epochEvalSeconds)),
      finalEvalSeconds: ours.map((x) => round3(x.finalEvalSeconds)),
      stepImagesPerSec: ours.map((x) => round3(x.stepImagesPerSec)),
      mapAll: ours.map((x) => x.mapAll),
      phaseSeconds: ours.map((x) => x.phases),
    },
    pytorch: {
      version: torch[0]?.version,
      wallSeconds: torch.map((x) => round3(x.wallSeconds)),
      phaseSeconds: torch.map((x) => x.seconds),
      stepImagesPerSec: torch.map((x) => x.imagesPerSecStep),
      mapAll: torch.map((x) => x['mAP@all']),
    },
    ratioOursOverPytorch: round3(
      best(torch.map((x) => x.wallSeconds)) / best(ours.map((x) => x.wallSeconds)),
    ),
    ratioPerRound: ours.map((x, i) => round3(torch[i]!.wallSeconds / x.wallSeconds)),
    profile,
  };
}
