/**
 * Trains and evaluates one cell inside a worker process. The run store is written as it goes:
 * status.json (running -> finished | failed | interrupted), metrics.jsonl, checkpoints at every epoch
 * end (the last one only: no checkpoint is selected on the test queries), then embeddings.json, retrieval.json with
 * thumbnails, and last eval.json with the finished state.
 *
 * Test hooks (environment, documented in the README):
 *   SBIR_FORCE_NAN_AT_STEP=<n>      report the loss of step n as NaN (the cell must fail cleanly)
 *   SBIR_FORCE_NAN_CELLS=<filters>  ... only in the cells these `--only` filters pick
 *   SBIR_STEP_DELAY_MS=<ms>         sleep after every step (to kill a cell mid-way in tests)
 *   SBIR_FINAL_EVAL_DELAY_MS=<ms>   sleep after the final evaluation, before eval.json (kill tests)
 *
 * One file on purpose: one cell's life in order (resume, train loop, checkpoints, final evaluation,
 * status); the checkpoint format itself is checkpoint.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { shellWord, writeJsonAtomicSync } from '@sbir/core';
import {
  DataError,
  openDataset,
  readClassVectors,
  type ClassVectors,
  type ImageBatch,
  type ShardDataset,
} from '@sbir/data';
import {
  createTrainer,
  resolveLossOptions,
  type InputPipelineConfig,
  type LossConfig,
  type OptimizerConfig,
  type SbirTrainer,
} from '@sbir/model';
import { finalEvaluation, quickEvaluation } from './evaluate';
import { matchesOnly, parseOnly } from './only';
import type { Callback, CellOutcome, CellStartInfo, StartMode } from './protocol';
import { CellStore, nowIso, type CellStatus, type EpochLine } from './run-store';
import {
  dumpCheckpoint,
  initialTrainerState,
  restoreCheckpoint,
  type RestoredCheckpoint,
  type TrainerState,
} from './checkpoint';
import type { CellConfig } from './schema';
import { protocolMismatch } from './zeroshot';

export interface RunCellOptions {
  cellDir: string;
  mode: StartMode;
  /** Backend in use (for status.json). */
  backend?: string;
  /** Polled between steps: true = checkpoint, mark interrupted, return. */
  shouldStop?: () => boolean;
  callbacks?: Callback[];
}

/** A cell failure with a reason for status.json (NaN loss, bad data...). */
export class CellFailure extends Error {
  override name = 'CellFailure';
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

export interface Schedule {
  stepsPerEpoch: number;
  totalSteps: number;
  epochs: number;
}

export function scheduleOf(cfg: CellConfig, passSteps: number): Schedule {
  const stepsPerEpoch = cfg.train.stepsPerEpoch ?? passSteps;
  const totalSteps = cfg.train.steps ?? (cfg.train.epochs ?? 1) * stepsPerEpoch;
  return { stepsPerEpoch, totalSteps, epochs: Math.ceil(totalSteps / stepsPerEpoch) };
}

/** Endless training batches: pass after pass (each reshuffled with its own seed), resumable at (pass, batch). */
async function* trainBatches(
  ds: ShardDataset,
  cfg: CellConfig,
  startPass: number,
  skip: number,
): AsyncGenerator<{ batch: ImageBatch; pass: number; index: number }> {
  for (let pass = startPass; ; pass++) {
    let index = 0;
    for await (const batch of ds.batches({
      subset: 'train',
      batchSize: cfg.train.batchSize,
      shuffle: true,
      shuffleBuffer: cfg.train.shuffleBuffer,
      seed: cfg.seed * 100_003 + pass,
      balanceDomains: cfg.train.balanceDomains,
      dropLast: true,
      limit: cfg.train.limitRows,
    })) {
      index++;
      if (pass === startPass && index <= skip) continue;
      yield { batch, pass, index };
    }
    if (index === 0) throw new CellFailure(`train subset of ${ds.dir} gave no batch`);
  }
}

/** `SBIR_FORCE_NAN_CELLS`: `--only` filters (only.ts); every cell when unset. */
function matchesFilters(cfg: CellConfig, spec: string | undefined): boolean {
  return !spec || matchesOnly(cfg, parseOnly([spec]));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Lets signal handlers and IPC run between synchronous training steps. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
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
  trainer: SbirTrainer,
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

export async function runCell(opts: RunCellOptions): Promise<CellOutcome> {
  const cell = new CellStore(opts.cellDir);
  const config = cell.readConfig();
  if (!config)
    throw new Error(`${cell.file('config.json')} is missing (the ablation writes it before dispatching)`);
  const hooks = opts.callbacks ?? [];
  const emit = <K extends keyof Callback>(name: K, ...args: Parameters<NonNullable<Callback[K]>>): void => {
    for (const h of hooks) (h[name] as ((...a: unknown[]) => void) | undefined)?.(...args);
  };
  const shouldStop = opts.shouldStop ?? (() => false);
  const cellId = config.cellId;
  const forceNanAt = Number(process.env.SBIR_FORCE_NAN_AT_STEP) || 0;
  const nanHere = forceNanAt > 0 && matchesFilters(config, process.env.SBIR_FORCE_NAN_CELLS);
  const stepDelay = Number(process.env.SBIR_STEP_DELAY_MS) || 0;
  const finalDelay = Number(process.env.SBIR_FINAL_EVAL_DELAY_MS) || 0;

  let trainer: SbirTrainer | null = null;
  let state: TrainerState = initialTrainerState();
  const previous = cell.readStatus();
  const attempt = (previous?.attempt ?? 0) + 1;
  let segmentStart = Date.now();
  const trainSeconds = (): number => state.trainSeconds + (Date.now() - segmentStart) / 1000;

  const outcome = (
    state_: CellOutcome['state'],
    error: string | null,
    evalResult?: { mapAll: number; pAt200: number },
  ): CellOutcome => ({
    cellId,
    state: state_,
    error,
    step: state.step,
    'mAP@all': evalResult?.mapAll ?? null,
    'P@200': evalResult?.pAt200 ?? null,
    trainSeconds: trainSeconds(),
  });

  try {
    // fresh start or retry: nothing of an earlier attempt survives; a resume drops only the debris
    if (opts.mode === 'resume') startResume(cell);
    else cell.reset();
    const ds = openDataset(config.dataset.dir);
    await ds.verify(); // a corrupt shard fails the cell before it trains on it (once per process)
    if (ds.manifest.split.protocol !== config.dataset.split) {
      throw new CellFailure(
        `${config.dataset.dir} was prepared with the ${ds.manifest.split.protocol} split; the config asks for dataset.split ${config.dataset.split}`,
      );
    }
    const mismatch = protocolMismatch(config, ds.manifest);
    if (mismatch) throw new CellFailure(mismatch);
    const vectors = classVectorsOf(config, ds);
    const schedule = scheduleOf(config, stepsPerPass(ds, config));
    trainer = createTrainer({
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
    cell.writeConfig({ ...config, resolved: resolvedSettings(trainer, config, schedule.totalSteps) });

    let resumedFrom: number | null = null;
    const integrity: Partial<CellStatus> = {};
    const notices: string[] = []; // shown once the cell has started (after onCellStart)
    if (opts.mode === 'resume') {
      const restored = await restoreCheckpoint(trainer, cell); // none usable: start over from step 0
      if (restored.state) {
        state = restored.state;
        resumedFrom = restored.state.step;
      }
      Object.assign(
        integrity,
        resumeRecords(previous, restored, attempt, (line) => notices.push(line)),
      );
    }
    segmentStart = Date.now();
    const resumes = [...(previous?.resumes ?? [])];
    if (resumedFrom !== null) resumes.push({ attempt, fromStep: resumedFrom, time: nowIso() });
    cell.updateStatus({
      ...integrity,
      state: 'running',
      attempt,
      pid: process.pid,
      host: os.hostname(),
      startedAt: previous?.startedAt && opts.mode === 'resume' ? previous.startedAt : nowIso(),
      finishedAt: null,
      error: null,
      step: state.step,
      epoch: state.epoch,
      totalSteps: schedule.totalSteps,
      resumes,
      backend: opts.backend ?? null,
      gitSha: process.env.SBIR_GIT_SHA || previous?.gitSha || null,
    });
    const start: CellStartInfo = {
      cellId,
      step: state.step,
      epoch: state.epoch,
      totalSteps: schedule.totalSteps,
      epochs: schedule.epochs,
      stepsPerEpoch: schedule.stepsPerEpoch,
      resumedFrom,
    };
    emit('onCellStart', start);
    for (const line of notices) emit('onPhase', cellId, line);

    const checkpoint = async (): Promise<void> => {
      state.trainSeconds = trainSeconds();
      segmentStart = Date.now();
      state.time = nowIso();
      await dumpCheckpoint(trainer!, cell, 'last', state);
    };

    const endEpoch = async (): Promise<void> => {
      const epoch = Math.ceil(state.step / schedule.stepsPerEpoch);
      const every = config.eval.everyEpochs;
      const evalNow = every > 0 && (epoch % every === 0 || state.step >= schedule.totalSteps);
      let quick: Awaited<ReturnType<typeof quickEvaluation>> | null = null;
      if (evalNow) {
        emit('onPhase', cellId, `evaluating epoch ${epoch}`);
        quick = await quickEvaluation(trainer!, ds, config);
      }
      const line: EpochLine = {
        kind: 'epoch',
        step: state.step,
        epoch,
        trainLoss: state.epochLossCount ? state.epochLossSum / state.epochLossCount : NaN,
        'mAP@all': quick?.mapAll ?? null,
        'P@200': quick?.pAt200 ?? null,
        ...(quick ? { nQueries: quick.nQueries, nGallery: quick.nGallery, evalSeconds: quick.seconds } : {}),
        time: nowIso(),
      };
      cell.appendMetric(line);
      state.epoch = epoch;
      state.epochLossSum = 0;
      state.epochLossCount = 0;
      // the epoch evaluation runs on test queries: it is a curve to watch, never a model selection
      await checkpoint();
      cell.updateStatus({ step: state.step, epoch });
      emit('onEpochEnd', cellId, line);
    };

    let interval = {
      loss: 0,
      steps: 0,
      images: 0,
      started: performance.now(),
      terms: {} as Record<string, number>,
    };
    let stopped = false;
    if (state.step < schedule.totalSteps) {
      for await (const { batch, pass, index } of trainBatches(ds, config, state.pass, state.batchInPass)) {
        const result = trainer.trainStep(batch, { augment: true }); // the pipeline's training transforms
        state.step = trainer.step;
        state.pass = pass;
        state.batchInPass = index;
        const loss = nanHere && state.step === forceNanAt ? NaN : result.loss;
        if (!Number.isFinite(loss)) {
          throw new CellFailure(
            `non-finite loss (${loss}) at step ${state.step} (epoch ${state.epoch + 1}, lr ${result.lr})`,
          );
        }
        state.epochLossSum += loss;
        state.epochLossCount++;
        interval.loss += loss;
        interval.steps++;
        interval.images += batch.n;
        for (const [k, v] of Object.entries(result.terms ?? {}))
          interval.terms[k] = (interval.terms[k] ?? 0) + v;
        const atLog = state.step % config.train.logEverySteps === 0 || state.step === schedule.totalSteps;
        if (atLog) {
          const seconds = (performance.now() - interval.started) / 1000;
          const imagesPerSec = seconds > 0 ? interval.images / seconds : 0;
          cell.appendMetric({
            kind: 'step',
            step: state.step,
            epoch: state.epoch + 1,
            loss: interval.loss / interval.steps,
            lr: result.lr,
            imagesPerSec,
            ...(Object.keys(interval.terms).length
              ? {
                  terms: Object.fromEntries(
                    Object.entries(interval.terms).map(([k, v]) => [k, v / interval.steps]),
                  ),
                }
              : {}),
            time: nowIso(),
          });
          emit('onProgress', {
            cellId,
            step: state.step,
            totalSteps: schedule.totalSteps,
            epoch: state.epoch + 1,
            loss: interval.loss / interval.steps,
            imagesPerSec,
          });
          interval = { loss: 0, steps: 0, images: 0, started: performance.now(), terms: {} };
        }
        if (state.step % schedule.stepsPerEpoch === 0 || state.step >= schedule.totalSteps) {
          await endEpoch();
          interval.started = performance.now(); // evaluation time is not training throughput
        } else if (
          config.train.checkpointEverySteps &&
          state.step % config.train.checkpointEverySteps === 0
        ) {
          await checkpoint();
          cell.updateStatus({ step: state.step });
        }
        if (stepDelay) await sleep(stepDelay);
        await yieldToEventLoop();
        if (state.step >= schedule.totalSteps) break;
        if (shouldStop()) {
          stopped = true;
          break;
        }
      }
    }

    if (stopped) {
      await checkpoint();
      cell.updateStatus({ state: 'interrupted', step: state.step, epoch: state.epoch, error: null });
      const out = outcome('interrupted', null);
      emit('onCellEnd', out);
      return out;
    }

    emit('onPhase', cellId, 'final evaluation');
    state.trainSeconds = trainSeconds();
    segmentStart = Date.now();
    const final = await finalEvaluation(trainer, ds, config, cell, state.trainSeconds, vectors);
    if (finalDelay) await sleep(finalDelay);
    // eval.json last, right before the state change: a kill before this point leaves no eval.json
    // (and a resume removes one left by a kill between the two renames).
    writeJsonAtomicSync(cell.file('eval.json'), final.evalJson);
    cell.updateStatus({
      state: 'finished',
      step: state.step,
      epoch: state.epoch,
      finishedAt: nowIso(),
      error: null,
    });
    const out = outcome('finished', null, final);
    emit('onCellEnd', out);
    return out;
  } catch (e) {
    // bad data is the cell's reason, on one line; anything else is a bug worth its stack in the log
    const clean = e instanceof CellFailure || e instanceof DataError;
    const reason = clean
      ? (e as Error).message
      : `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`;
    if (!clean) process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    cell.updateStatus({
      state: 'failed',
      step: state.step,
      epoch: state.epoch,
      finishedAt: nowIso(),
      error: reason,
    });
    const out = outcome('failed', reason);
    emit('onCellEnd', out);
    return out;
  } finally {
    trainer?.dispose();
  }
}
