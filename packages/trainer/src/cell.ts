/**
 * Trains and evaluates one cell inside a worker process: setup -> restore -> the loop (loop.ts) with
 * its callbacks (callbacks.ts) -> final evaluation. The run store is written as it goes: status.json
 * (running -> finished | failed | interrupted), metrics.jsonl, checkpoints at every epoch end (the
 * last one only: no checkpoint is selected on the test queries), then embeddings.json, retrieval.json
 * with thumbnails, and last eval.json with the finished state.
 *
 * Tests inject faults (a NaN loss, delays) with a callback of their own (registerCellCallbacks,
 * packages/trainer/test/faults.ts); this code reads no test switch.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { shellWord, writeJsonAtomicSync } from '@sbir/core';
import { DataError, openDataset, readClassVectors, type ClassVectors, type ShardDataset } from '@sbir/data';
import {
  createLearner,
  resolveLossOptions,
  type InputPipelineConfig,
  type LossConfig,
  type OptimizerConfig,
  type Learner,
} from '@sbir/model';
import { cellCallbacks } from './callbacks';
import { finalEvaluation } from './evaluate';
import { CellFailure, CellLoop, type CellContext, type Schedule } from './loop';
import type { Callback, CellOutcome, StartMode } from './protocol';
import { CellStore, nowIso, type CellStatus } from './run-store';
import {
  initialTrainerState,
  restoreCheckpoint,
  type RestoredCheckpoint,
  type TrainerState,
} from './checkpoint';
import type { CellConfig } from './schema';
import { protocolMismatch } from './zeroshot';

export { CellFailure, type Schedule } from './loop';

export interface RunCellOptions {
  cellDir: string;
  mode: StartMode;
  /** Backend in use (for status.json). */
  backend?: string;
  /** Polled between steps: true = checkpoint, mark interrupted, return. */
  shouldStop?: () => boolean;
  callbacks?: Callback[];
}

/** Steps per pass over the train subset, as the reader will produce them (dropLast). */
export function stepsPerPass(ds: ShardDataset, cfg: CellConfig): number {
  const counts = ds.manifest.subsetCounts.train;
  const bs = cfg.train.batchSize;
  const cap = cfg.train.limitRows ?? Infinity;
  let steps: number;
  if (cfg.train.balanceDomains) {
    const half = Math.floor(bs / 2);
    // the reader takes bs - half sketches and half photos per batch and stops when either runs out
    steps = Math.min(
      Math.floor(counts.sketch / (bs - half)),
      Math.floor(counts.photo / half),
      Math.floor(cap / bs),
    );
  } else {
    steps = Math.floor(Math.min(counts.sketch + counts.photo, cap) / bs);
  }
  if (steps < 1) {
    throw new CellFailure(
      `train subset of ${ds.dir} has ${counts.sketch} sketches and ${counts.photo} photos: not one full batch of ${bs}` +
        (cfg.train.balanceDomains ? ' with balanced domains' : ''),
    );
  }
  return steps;
}

export function scheduleOf(cfg: CellConfig, passSteps: number): Schedule {
  const stepsPerEpoch = cfg.train.stepsPerEpoch ?? passSteps;
  const totalSteps = cfg.train.steps ?? (cfg.train.epochs ?? 1) * stepsPerEpoch;
  return { stepsPerEpoch, totalSteps, epochs: Math.ceil(totalSteps / stepsPerEpoch) };
}

/**
 * A resumed cell starts clean: no temp files of the killed attempt, and no eval.json (only a finished
 * cell has one; a kill between writing it and the state change can leave one behind).
 */
function startResume(cell: CellStore): void {
  const removed = cell.removeStaleTemp();
  if (removed.length)
    process.stderr.write(
      `${cell.dir}: removed ${removed.length} stale temp file(s): ${removed.join(', ')}\n`,
    );
  fs.rmSync(cell.file('eval.json'), { force: true });
}

/**
 * status.json fields recording what a resume found: corrupt checkpoints (each reported on one line
 * through `say`, the worker log and the progress view) and unreadable metrics lines.
 */
function resumeRecords(
  previous: CellStatus | null,
  restored: RestoredCheckpoint,
  attempt: number,
  say: (line: string) => void,
): Partial<CellStatus> {
  const out: Partial<CellStatus> = {};
  const action = restored.from
    ? `resumed from ${restored.from} (step ${restored.state!.step})`
    : 'restarted from step 0';
  if (restored.faults.length) {
    const time = nowIso();
    out.checkpointFaults = [
      ...(previous?.checkpointFaults ?? []),
      ...restored.faults.map((f) => ({ attempt, time, file: f.file, problem: f.problem, action })),
    ];
    for (const f of restored.faults) {
      const line = `corrupt checkpoint: ${f.file}: ${f.problem}; ${action}`;
      process.stderr.write(`${line}\n`);
      say(line);
    }
  }
  if (restored.badMetricLines) {
    out.badMetricLines = (previous?.badMetricLines ?? 0) + restored.badMetricLines;
    const line = `metrics.jsonl: skipped ${restored.badMetricLines} unreadable line(s), kept every valid one`;
    process.stderr.write(`${line}\n`);
    say(line);
  }
  return out;
}

/**
 * The class word vectors of the dataset folder (digest verified), or null when it has none. A cell
 * whose config names `dataset.wordVectors` needs them (the ablation attaches them before dispatching).
 */
function classVectorsOf(config: CellConfig, ds: ShardDataset): ClassVectors | null {
  if (!ds.manifest.classVectors) {
    if (!config.dataset.wordVectors) return null;
    throw new CellFailure(
      `${config.dataset.dir} has no class vectors (dataset.wordVectors: ${config.dataset.wordVectors}); attach them with npx nx run data:vectors -- --dir ${shellWord(config.dataset.dir)} --word-vectors ${shellWord(config.dataset.wordVectors)}`,
    );
  }
  return readClassVectors(config.dataset.dir);
}

/** config.json `resolved`: what the code made of the settings (defaults filled in), for diffs. */
export function resolvedSettings(
  trainer: Learner,
  config: CellConfig,
  totalSteps: number,
): Record<string, unknown> {
  return {
    model: trainer.model.getConfig(),
    loss: { name: config.loss.name, ...resolveLossOptions(config.loss as LossConfig, totalSteps) },
    input: trainer.config.input,
    optimizer: { ...trainer.config.optimizer },
    seed: trainer.config.seed,
    stepMode: trainer.config.stepMode,
  };
}

/** The model's input pipeline of a cell: train.augment with the dataset's photo channel order. */
export function inputPipelineOf(config: CellConfig): InputPipelineConfig {
  return { ...(config.train.augment as InputPipelineConfig), photoChannels: config.dataset.photoChannels };
}

/** Setup, the data half: the dataset (verified, of the split and protocol the config asks for), its class vectors and the schedule. */
async function openCellData(config: CellConfig): Promise<Pick<CellContext, 'ds' | 'vectors' | 'schedule'>> {
  const ds = openDataset(config.dataset.dir);
  await ds.verify(); // a corrupt shard fails the cell before it trains on it (once per process)
  if (ds.manifest.split.protocol !== config.dataset.split) {
    throw new CellFailure(
      `${config.dataset.dir} was prepared with the ${ds.manifest.split.protocol} split; the config asks for dataset.split ${config.dataset.split}`,
    );
  }
  const mismatch = protocolMismatch(config, ds.manifest);
  if (mismatch) throw new CellFailure(mismatch);
  return { ds, vectors: classVectorsOf(config, ds), schedule: scheduleOf(config, stepsPerPass(ds, config)) };
}

/** Setup, the model half: the model's trainer as the config and the dataset define it. */
function createCellTrainer(
  config: CellConfig,
  data: Pick<CellContext, 'ds' | 'vectors' | 'schedule'>,
): Learner {
  const { ds, vectors, schedule } = data;
  return createLearner({
    model: { ...config.model, numClasses: ds.manifest.classes.length },
    loss: config.loss as LossConfig,
    optimizer: {
      name: config.train.optimizer,
      lr: config.train.lr,
      weightDecay: config.train.weightDecay,
      momentum: config.train.momentum,
      schedule: config.train.schedule,
      totalSteps: schedule.totalSteps,
    } as OptimizerConfig,
    seed: config.seed,
    input: inputPipelineOf(config),
    stepMode: config.train.stepMode,
    ...(vectors ? { classVectors: { dim: vectors.dim, data: vectors.data } } : {}),
  });
}

interface Restored {
  state: TrainerState;
  resumedFrom: number | null;
  /** status.json fields of the attempt's start: resumes, checkpoint faults, bad metrics lines. */
  status: Partial<CellStatus>;
  /** Lines shown once the cell has started (after onCellStart). */
  notices: string[];
}

/**
 * Restore, in one place: a resume loads the newest checkpoint that verifies (model, optimiser,
 * counters) and truncates metrics.jsonl to it; any other start, or a resume with no usable
 * checkpoint, starts from step 0.
 */
async function restore(
  ctx: CellContext,
  mode: StartMode,
  previous: CellStatus | null,
  attempt: number,
): Promise<Restored> {
  const out: Restored = { state: initialTrainerState(), resumedFrom: null, status: {}, notices: [] };
  const resumes = [...(previous?.resumes ?? [])];
  if (mode === 'resume') {
    const restored = await restoreCheckpoint(ctx.trainer, ctx.cell);
    if (restored.state) {
      out.state = restored.state;
      out.resumedFrom = restored.state.step;
      resumes.push({ attempt, fromStep: restored.state.step, time: nowIso() });
    }
    out.status = resumeRecords(previous, restored, attempt, (line) => out.notices.push(line));
  }
  out.status.resumes = resumes;
  return out;
}

/** status.json of a started attempt. */
function startStatus(
  opts: RunCellOptions,
  loop: CellLoop,
  previous: CellStatus | null,
  attempt: number,
): Partial<CellStatus> {
  return {
    state: 'running',
    attempt,
    pid: process.pid,
    host: os.hostname(),
    startedAt: previous?.startedAt && opts.mode === 'resume' ? previous.startedAt : nowIso(),
    finishedAt: null,
    error: null,
    step: loop.state.step,
    epoch: loop.state.epoch,
    totalSteps: loop.ctx.schedule.totalSteps,
    backend: opts.backend ?? null,
    gitSha: process.env.SBIR_GIT_SHA || previous?.gitSha || null,
  };
}

/** The final evaluation, then eval.json and the finished state. */
async function finish(loop: CellLoop): Promise<{ mapAll: number; pAt200: number }> {
  const { cellId, trainer, ds, config, cell, vectors } = loop.ctx;
  loop.report('onPhase', cellId, 'final evaluation');
  loop.lapClock();
  const final = await finalEvaluation(trainer, ds, config, cell, loop.state.trainSeconds, vectors);
  await loop.hook('onTestEnd');
  // eval.json last, right before the state change: a kill before this point leaves no eval.json
  // (and a resume removes one left by a kill between the two renames).
  writeJsonAtomicSync(cell.file('eval.json'), final.evalJson);
  const { step, epoch } = loop.state;
  cell.updateStatus({ state: 'finished', step, epoch, finishedAt: nowIso(), error: null });
  return final;
}

/** Bad data is the cell's reason, on one line; anything else is a bug worth its stack in the log. */
function failureReason(e: unknown): string {
  const err = e as Error;
  if (e instanceof CellFailure || e instanceof DataError) return err.message;
  process.stderr.write(`${err.stack ?? String(e)}\n`);
  return `${err.name}: ${err.message.split('\n')[0]}`;
}

export async function runCell(opts: RunCellOptions): Promise<CellOutcome> {
  const cell = new CellStore(opts.cellDir);
  const config = cell.readConfig();
  if (!config)
    throw new Error(`${cell.file('config.json')} is missing (the ablation writes it before dispatching)`);
  const cellId = config.cellId;
  const callbacks = cellCallbacks(opts.callbacks);
  const previous = cell.readStatus();
  const attempt = (previous?.attempt ?? 0) + 1;
  const started = Date.now();
  let trainer: Learner | null = null;
  let loop: CellLoop | null = null;
  const end = (
    state: CellOutcome['state'],
    error: string | null,
    result?: { mapAll: number; pAt200: number },
  ) => {
    const outcome: CellOutcome = {
      cellId,
      state,
      error,
      step: loop?.state.step ?? 0,
      'mAP@all': result?.mapAll ?? null,
      'P@200': result?.pAt200 ?? null,
      trainSeconds: loop?.trainSeconds() ?? (Date.now() - started) / 1000,
    };
    for (const c of callbacks) c.onCellEnd?.(outcome);
    return outcome;
  };
  try {
    // fresh start or retry: nothing of an earlier attempt survives; a resume drops only the debris
    if (opts.mode === 'resume') startResume(cell);
    else cell.reset();
    const data = await openCellData(config);
    trainer = createCellTrainer(config, data);
    cell.writeConfig({ ...config, resolved: resolvedSettings(trainer, config, data.schedule.totalSteps) });
    const ctx: CellContext = { cellId, config, cell, trainer, ...data };
    const restored = await restore(ctx, opts.mode, previous, attempt);
    loop = new CellLoop(ctx, restored.state, callbacks);
    cell.updateStatus({ ...restored.status, ...startStatus(opts, loop, previous, attempt) });
    const { step, epoch } = loop.state;
    const { totalSteps, epochs, stepsPerEpoch } = data.schedule;
    loop.report('onCellStart', {
      cellId,
      step,
      epoch,
      totalSteps,
      epochs,
      stepsPerEpoch,
      resumedFrom: restored.resumedFrom,
    });
    for (const line of restored.notices) loop.report('onPhase', cellId, line);
    await loop.run(opts.shouldStop ?? (() => false));
    if (!loop.stopped) return end('finished', null, await finish(loop));
    cell.updateStatus({ state: 'interrupted', step: loop.state.step, epoch: loop.state.epoch, error: null });
    return end('interrupted', null);
  } catch (e) {
    const reason = failureReason(e);
    const { step, epoch } = loop?.state ?? { step: 0, epoch: 0 };
    cell.updateStatus({ state: 'failed', step, epoch, finishedAt: nowIso(), error: reason });
    return end('failed', reason);
  } finally {
    trainer?.dispose();
  }
}
