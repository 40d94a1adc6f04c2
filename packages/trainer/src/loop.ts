/**
 * The training loop of a cell (Lightning's fit loop): it owns the restart-safe counters (step, epoch,
 * data position) and the training clock, trains step after step and calls the callbacks' hooks at
 * fixed points. Everything it does not need to advance a step (the loss guard, metrics.jsonl, epoch
 * evaluations, checkpoints, progress) is a callback (callbacks.ts), run in the order of the list.
 */
import type { ClassVectors, ImageBatch, ShardDataset } from '@sbir/data';
import type { Learner } from '@sbir/model';
import type { TrainerState } from './checkpoint';
import type { Callback, LoopHook } from './protocol';
import type { CellStore, EpochLine } from './run-store';
import type { CellConfig } from './schema';

/** Failures of a cell with a reason for status.json (NaN loss, bad data...): one line, no stack. */
export class CellFailure extends Error {
  override name = 'CellFailure';
}

export interface Schedule {
  stepsPerEpoch: number;
  totalSteps: number;
  epochs: number;
}

/** What a training step gave, as the hooks see it (a test callback may report another loss). */
export interface StepOutput {
  loss: number;
  lr: number;
  /** Loss terms of a composite loss (the model's trainStep result). */
  terms?: Record<string, number>;
  /** Images in the batch. */
  images: number;
}

/** An epoch that has just ended: filled in by the epoch-end hooks in their order. */
export interface EpochEnd {
  epoch: number;
  /** The quick evaluation on the test queries, when one was due (EpochEvaluation). */
  quick?: { mapAll: number; pAt200: number; nQueries: number; nGallery: number; seconds: number };
  /** The metrics.jsonl line of the epoch (MetricsLogger): what onEpochEnd reports. */
  line?: EpochLine;
}

/** Everything a cell's hooks may read: set up and restored before the loop starts. */
export interface CellContext {
  cellId: string;
  config: CellConfig;
  cell: CellStore;
  ds: ShardDataset;
  trainer: Learner;
  vectors: ClassVectors | null;
  schedule: Schedule;
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

/** Lets signal handlers and IPC run between synchronous training steps. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export class CellLoop {
  /** True once the loop stopped early on shouldStop (the cell is then interrupted, not finished). */
  stopped = false;
  private segmentStart = Date.now();

  constructor(
    readonly ctx: CellContext,
    /** The restart-safe counters, restored from a checkpoint or fresh. */
    readonly state: TrainerState,
    private readonly callbacks: readonly Callback[],
  ) {}

  /** Seconds trained: the checkpointed total plus the segment running since the last lap. */
  trainSeconds(): number {
    return this.state.trainSeconds + (Date.now() - this.segmentStart) / 1000;
  }

  /** Folds the running segment into state.trainSeconds (before a checkpoint or the final evaluation). */
  lapClock(): void {
    this.state.trainSeconds = this.trainSeconds();
    this.segmentStart = Date.now();
  }

  /** Is the step just taken the last of an epoch (or of the schedule)? */
  atEpochEnd(): boolean {
    const { step } = this.state;
    return step % this.ctx.schedule.stepsPerEpoch === 0 || step >= this.ctx.schedule.totalSteps;
  }

  /** Calls a loop hook of every callback, in list order, awaiting each. */
  async hook<K extends LoopHook>(
    name: K,
    ...args: DropFirst<Parameters<NonNullable<Callback[K]>>>
  ): Promise<void> {
    for (const c of this.callbacks) {
      const fn = c[name] as ((loop: CellLoop, ...a: unknown[]) => void | Promise<void>) | undefined;
      if (fn) await fn.call(c, this, ...args);
    }
  }

  /** Calls a reporting hook (plain data, forwarded over IPC by the worker) of every callback. */
  report<K extends Exclude<keyof Callback, LoopHook>>(
    name: K,
    ...args: Parameters<NonNullable<Callback[K]>>
  ): void {
    for (const c of this.callbacks) (c[name] as ((...a: unknown[]) => void) | undefined)?.call(c, ...args);
  }

  /** Trains up to the schedule's last step or until `shouldStop` answers true between two steps. */
  async run(shouldStop: () => boolean): Promise<void> {
    this.segmentStart = Date.now();
    await this.hook('onTrainStart');
    const { ctx, state } = this;
    if (state.step < ctx.schedule.totalSteps) {
      for await (const { batch, pass, index } of trainBatches(
        ctx.ds,
        ctx.config,
        state.pass,
        state.batchInPass,
      )) {
        const result = ctx.trainer.trainStep(batch, { augment: true }); // the pipeline's training transforms
        Object.assign(state, { step: ctx.trainer.step, pass, batchInPass: index });
        await this.hook('onTrainBatchEnd', { ...result, images: batch.n });
        if (this.atEpochEnd()) await this.endEpoch();
        await yieldToEventLoop();
        if (state.step >= ctx.schedule.totalSteps) break;
        if (shouldStop()) {
          this.stopped = true;
          break;
        }
      }
    }
    await this.hook('onTrainEnd');
  }

  /** The epoch counter advances first, so that a checkpoint taken by a hook holds it. */
  private async endEpoch(): Promise<void> {
    const end: EpochEnd = { epoch: Math.ceil(this.state.step / this.ctx.schedule.stepsPerEpoch) };
    this.state.epoch = end.epoch;
    await this.hook('onTrainEpochEnd', end);
    if (end.line) this.report('onEpochEnd', this.ctx.cellId, end.line);
  }
}

type DropFirst<T extends unknown[]> = T extends [unknown, ...infer R] ? R : never;
