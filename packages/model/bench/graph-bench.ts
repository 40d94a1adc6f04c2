/**
 * Training throughput of the step as one TensorFlow graph (stepMode graph) against the eager step
 * (stepMode eager: kernel by kernel, fused ResourceApplyAdam), side by side in one process on the same
 * threads: `npx tsx packages/model/bench/graph-bench.ts [--nets demo,width32,paper]`.
 *
 * Nets: `demo` = the demo's net (experiments/demo.yaml: resnet-tiny width 16, 64 px, batch 64, MEMS,
 * SE block); `width32` = the net of model:bench (width 32, block none, softmax, 80 classes); `paper` =
 * SE-ResNeXt-50 at 224 px, 22 + 22 images, DASE, MEMS. Rounds interleave the two modes (order
 * alternating) because the machine may be shared; best and median per mode and the per-round ratio
 * are written to bench/results/graph.json with the processor and the load average.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeJsonAtomicSync } from '@sbir/core';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { initBackend } from '../src/backend';
import { ModelConfig } from '../src/model';
import { Rng } from '../src/rng';
import { StepMode } from '../src/graph/step';
import { TrainBatch, LearnerConfig, createLearner } from '../src/learner';

const ROOT = path.resolve(__dirname, '../../..');

/** A bad command line: exit code 2 (runtime failures exit 1). */
class UsageError extends Error {}

interface Net {
  model: ModelConfig;
  loss: LearnerConfig['loss'];
  batch: number;
}

const NETS: Record<string, Net> = {
  demo: {
    model: {
      backbone: 'resnet-tiny',
      block: 'se',
      width: 16,
      inputSize: 64,
      embeddingDim: 64,
      numClasses: 80,
    },
    loss: { name: 'mems', margin: 2, annealSteps: 200 },
    batch: 64,
  },
  width32: {
    model: {
      backbone: 'resnet-tiny',
      block: 'none',
      width: 32,
      inputSize: 64,
      embeddingDim: 64,
      numClasses: 80,
    },
    loss: { name: 'softmax' },
    batch: 64,
  },
  paper: {
    model: {
      backbone: 'se_resnext50_32x4d',
      block: 'dase',
      width: 0, // the backbone's own (64)
      inputSize: 224,
      embeddingDim: 64,
      numClasses: 100,
    },
    loss: { name: 'mems', margin: 2, annealSteps: 200 },
    batch: 44,
  },
};

function batchOf(net: Net): TrainBatch {
  const rng = new Rng(1);
  const { batch: n, model } = net;
  const size = model.inputSize;
  const images = new Uint8Array(n * size * size * 3);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const labels = Int32Array.from({ length: n }, () => rng.int(model.numClasses));
  return {
    images,
    n,
    height: size,
    width: size,
    labels,
    domains: Uint8Array.from({ length: n }, (_, i) => i % 2),
  };
}

interface Rate {
  perSec: number;
  /** Images per process CPU-second: less sensitive than wall time to other processes' load. */
  perCpuSec: number;
}

/** Images per second of `stepMode` on `net`: warm-up steps (the graph is built there), then timed. */
function rate(net: Net, stepMode: StepMode, seconds: number, minSteps: number): Rate {
  const tr = createLearner({
    model: net.model,
    loss: net.loss,
    optimizer: {
      name: 'adam',
      lr: 1e-3,
      weightDecay: 1e-4,
      schedule: 'half-constant-linear',
      totalSteps: 400,
    },
    seed: 0,
    stepMode,
  });
  try {
    const b = batchOf(net);
    for (let i = 0; i < 2; i++) tr.trainStep(b);
    const status = tr.stepStatus();
    if (stepMode === 'graph' && status?.mode !== 'graph')
      throw new Error(`graph step fell back: ${JSON.stringify(status)}`);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let steps = 0;
    while (steps < minSteps || performance.now() - t0 < seconds * 1000) {
      tr.trainStep(b);
      steps++;
    }
    const cpu = process.cpuUsage(c0);
    const images = steps * net.batch;
    return {
      perSec: images / ((performance.now() - t0) / 1000),
      perCpuSec: images / ((cpu.user + cpu.system) / 1e6),
    };
  } finally {
    tr.dispose();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const r1 = (x: number): number => Math.round(x * 10) / 10;

function summary(rs: Rate[]): Record<string, unknown> {
  const wall = rs.map((r) => r.perSec);
  const cpu = rs.map((r) => r.perCpuSec);
  return {
    best: r1(Math.max(...wall)),
    median: r1(median(wall)),
    rounds: wall.map(r1),
    perCpuSecMedian: r1(median(cpu)),
  };
}

async function main(): Promise<void> {
  const args = await yargs(hideBin(process.argv))
    .option('threads', { type: 'number', default: 2 })
    .option('rounds', { type: 'number', default: 4 })
    .option('seconds', { type: 'number', default: 4, describe: 'timed seconds per measurement' })
    .option('nets', { type: 'string', default: 'demo,width32' })
    .option('paper-rounds', { type: 'number', default: 1 })
    .option('paper-batch', {
      type: 'number',
      default: 44,
      describe: 'images per paper-net step (22 + 22; about 460 MB of memory per image at 224 px)',
    })
    .option('out', { type: 'string', default: path.join(ROOT, 'bench/results/graph.json') })
    .strict()
    .parseAsync();
  const backend = await initBackend('tensorflow', { threads: args.threads, quiet: true });
  const load0 = os.loadavg();
  const results: Record<string, unknown> = {};
  for (const name of args.nets.split(',')) {
    const known = NETS[name];
    const net = name === 'paper' && known ? { ...known, batch: args['paper-batch'] } : known;
    if (!net) throw new UsageError(`--nets: unknown net "${name}" (known: ${Object.keys(NETS).join(', ')})`);
    const rounds = name === 'paper' ? args['paper-rounds'] : args.rounds;
    const seconds = name === 'paper' ? 0 : args.seconds;
    const minSteps = name === 'paper' ? 2 : 3;
    const eager: Rate[] = [];
    const graph: Rate[] = [];
    for (let r = 0; r < rounds; r++) {
      const order: StepMode[] = r % 2 ? ['graph', 'eager'] : ['eager', 'graph'];
      for (const m of order) (m === 'graph' ? graph : eager).push(rate(net, m, seconds, minSteps));
      const [e, g] = [eager[r]!, graph[r]!];
      process.stderr.write(
        `${name} round ${r + 1}: eager ${r1(e.perSec)} graph ${r1(g.perSec)} img/s; per CPU-s ${r1(e.perCpuSec)} vs ${r1(g.perCpuSec)}\n`,
      );
    }
    results[name] = {
      model: net.model,
      batch: net.batch,
      eager: summary(eager),
      graph: summary(graph),
      ratioPerRound: graph.map((g, i) => Math.round((g.perSec / eager[i]!.perSec) * 100) / 100),
      ratioPerCpuSecond:
        Math.round((median(graph.map((g) => g.perCpuSec)) / median(eager.map((e) => e.perCpuSec))) * 100) /
        100,
    };
  }
  const out = {
    what: 'training images/s, stepMode graph vs eager, same process and threads, interleaved rounds',
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    threads: backend.threads,
    tensorflow: backend.tfVersion,
    loadAverage: { before: load0.map(r1), after: os.loadavg().map(r1) },
    results,
  };
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  writeJsonAtomicSync(args.out, out);
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`graph-bench: ${e.message}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
