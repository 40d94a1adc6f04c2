/**
 * runCell's built-in callbacks (Lightning's ModelCheckpoint, loggers and the like), in the order the
 * loop calls them: FiniteLossGuard, EpochEvaluation, MetricsLogger, Checkpointer. The order is the
 * contract: the guard sees a loss before it is logged, the epoch line is written before the
 * checkpoint that covers it (a resume truncates metrics.jsonl to the checkpoint's step).
 *
 * registerCellCallbacks adds callbacks to every cell this process runs, ahead of the built-ins: the
 * tests install fault injection with it (packages/trainer/test/faults.ts), even in worker processes.
 */
import type { StepStatus } from '@sbir/model';
import { nowIso, type StepLine } from './run-store';
import { dumpCheckpoint } from './checkpoint';
import { quickEvaluation } from './evaluate';
import { CellFailure, type CellLoop, type EpochEnd, type StepOutput } from './loop';
import type { Callback } from './protocol';

const registered: Callback[] = [];

/** Adds callbacks to every cell run by this process from now on; returns their removal. */
export function registerCellCallbacks(...callbacks: Callback[]): () => void {
  registered.push(...callbacks);
  return () => {
    for (const c of callbacks) {
      const i = registered.indexOf(c);
      if (i >= 0) registered.splice(i, 1); // a second call removes nothing
    }
  };
}

/** The callbacks of one cell: registered ones, the built-ins, then the caller's (reporting) ones. */
export function cellCallbacks(extra: readonly Callback[] = []): Callback[] {
  return [
    ...registered,
    new FiniteLossGuard(),
    new EpochEvaluation(),
    new MetricsLogger(),
    new Checkpointer(),
    ...extra,
  ];
}

/** Fails the cell on a non-finite loss, before anything logs or checkpoints it. */
export class FiniteLossGuard implements Callback {
  onTrainBatchEnd({ state }: CellLoop, out: StepOutput): void {
    if (!Number.isFinite(out.loss))
      throw new CellFailure(
        `non-finite loss (${out.loss}) at step ${state.step} (epoch ${state.epoch + 1}, lr ${out.lr})`,
      );
  }
}

/**
 * The quick evaluation on the test queries every `eval.everyEpochs` epochs and at the last one: a
 * curve to watch, never a model selection.
 */
export class EpochEvaluation implements Callback {
  async onTrainEpochEnd(loop: CellLoop, end: EpochEnd): Promise<void> {
    const { config, cellId, trainer, ds, schedule } = loop.ctx;
    const every = config.eval.everyEpochs;
    if (!(every > 0 && (end.epoch % every === 0 || loop.state.step >= schedule.totalSteps))) return;
    loop.report('onPhase', cellId, `evaluating epoch ${end.epoch}`);
    end.quick = await quickEvaluation(trainer, ds, config);
  }
}

interface Interval {
  loss: number;
  steps: number;
  images: number;
  started: number;
  terms: Record<string, number>;
}

const freshInterval = (): Interval => ({
  loss: 0,
  steps: 0,
  images: 0,
  started: performance.now(),
  terms: {},
});

/**
 * metrics.jsonl: a step line (means over the steps since the last one) every `train.logEverySteps`
 * steps and at the last, reported as progress, and an epoch line at every epoch end. The epoch's
 * loss sums live in the trainer state, so that an epoch's trainLoss survives a resume.
 */
export class MetricsLogger implements Callback {
  private interval = freshInterval();

  onTrainStart(): void {
    this.interval = freshInterval();
  }

  onTrainBatchEnd(loop: CellLoop, out: StepOutput): void {
    const { state, ctx } = loop;
    state.epochLossSum += out.loss;
    state.epochLossCount++;
    const iv = this.interval;
    iv.loss += out.loss;
    iv.steps++;
    iv.images += out.images;
    for (const [k, v] of Object.entries(out.terms ?? {})) iv.terms[k] = (iv.terms[k] ?? 0) + v;
    if (state.step % ctx.config.train.logEverySteps === 0 || state.step === ctx.schedule.totalSteps) {
      const line = this.stepLine(loop, out.lr);
      ctx.cell.appendMetric(line);
      const { step, epoch, loss, imagesPerSec } = line;
      loop.report('onProgress', {
        cellId: ctx.cellId,
        step,
        totalSteps: ctx.schedule.totalSteps,
        epoch,
        loss,
        imagesPerSec,
      });
      this.interval = freshInterval();
    }
  }

  private stepLine({ state }: CellLoop, lr: number): StepLine {
    const iv = this.interval;
    const seconds = (performance.now() - iv.started) / 1000;
    const terms = Object.entries(iv.terms).map(([k, v]) => [k, v / iv.steps]);
    return {
      kind: 'step',
      step: state.step,
      epoch: state.epoch + 1,
      loss: iv.loss / iv.steps,
      lr,
      imagesPerSec: seconds > 0 ? iv.images / seconds : 0,
      ...(terms.length ? { terms: Object.fromEntries(terms) } : {}),
      time: nowIso(),
    };
  }

  onTrainEpochEnd({ state, ctx }: CellLoop, end: EpochEnd): void {
    const q = end.quick;
    end.line = {
      kind: 'epoch',
      step: state.step,
      epoch: end.epoch,
      trainLoss: state.epochLossCount ? state.epochLossSum / state.epochLossCount : NaN,
      'mAP@all': q?.mapAll ?? null,
      'P@200': q?.pAt200 ?? null,
      ...(q ? { nQueries: q.nQueries, nGallery: q.nGallery, evalSeconds: q.seconds } : {}),
      time: nowIso(),
    };
    ctx.cell.appendMetric(end.line);
    state.epochLossSum = 0;
    state.epochLossCount = 0;
  }

  /** Evaluation and checkpoint time is not training throughput: the next interval starts now. */
  onEpochEnd(): void {
    this.interval.started = performance.now();
  }
}

/**
 * checkpoints/last (checkpoint.ts) at every epoch end, every `train.checkpointEverySteps` steps and
 * when the loop stops early; status.json's step follows the checkpoint (what a resume starts from).
 */
export class Checkpointer implements Callback {
  async onTrainBatchEnd(loop: CellLoop): Promise<void> {
    const every = loop.ctx.config.train.checkpointEverySteps;
    if (loop.atEpochEnd() || !every || loop.state.step % every !== 0) return; // the epoch end saves
    await save(loop);
    loop.ctx.cell.updateStatus(savedAt(loop));
  }

  async onTrainEpochEnd(loop: CellLoop): Promise<void> {
    await save(loop);
    loop.ctx.cell.updateStatus({ ...savedAt(loop), epoch: loop.state.epoch });
  }

  async onTrainEnd(loop: CellLoop): Promise<void> {
    if (loop.stopped) await save(loop); // runCell then marks the cell interrupted
  }
}

/** status.json after a checkpoint: its step, and how the steps have run (graph, or eager and why). */
function savedAt(loop: CellLoop): { step: number; stepMode: StepStatus | null } {
  return { step: loop.state.step, stepMode: loop.ctx.trainer.stepStatus() };
}

async function save(loop: CellLoop): Promise<void> {
  loop.lapClock();
  loop.state.time = nowIso();
  await dumpCheckpoint(loop.ctx.trainer, loop.ctx.cell, 'last', loop.state);
}
