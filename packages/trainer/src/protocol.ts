/** Messages between the ablation process and its worker processes (child_process IPC). */
import type { CellLoop, EpochEnd, StepOutput } from './loop';
import type { CellState, EpochLine } from './run-store';

/** How a worker should start a cell (see planCell). */
export type StartMode = 'run' | 'resume' | 'retry';

/** Parent -> worker. The worker reads everything else from the cell folder (config.json first). */
export type ParentMessage = { type: 'run'; cellDir: string; mode: StartMode } | { type: 'exit' };

export interface CellStartInfo {
  cellId: string;
  step: number;
  epoch: number;
  totalSteps: number;
  epochs: number;
  stepsPerEpoch: number;
  resumedFrom: number | null;
}

export interface CellProgress {
  cellId: string;
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  imagesPerSec: number;
}

export interface CellOutcome {
  cellId: string;
  state: CellState;
  error: string | null;
  step: number;
  'mAP@all': number | null;
  'P@200': number | null;
  trainSeconds: number;
}

/** Worker -> parent. */
export type WorkerMessage =
  | { type: 'ready'; backend: string; threads: number; pid: number; warning?: string }
  | { type: 'start'; info: CellStartInfo }
  | { type: 'progress'; progress: CellProgress }
  | { type: 'epoch'; cellId: string; line: EpochLine }
  | { type: 'phase'; cellId: string; phase: string }
  | { type: 'done'; outcome: CellOutcome }
  | { type: 'fatal'; error: string };

/**
 * Hooks of a running cell (Lightning's no-op Callback; every hook is optional).
 *
 * Loop hooks get the loop first (its counters, context and clock) and are awaited in list order:
 * runCell's built-in callbacks (callbacks.ts: loss guard, epoch evaluation, metrics, checkpoints)
 * come after the ones registered with registerCellCallbacks and before the ones passed to runCell.
 *
 * Reporting hooks get plain data: the worker forwards them to the parent over IPC; tests and other
 * embedders can pass their own.
 */
export interface Callback {
  /** Before the first step of this attempt (after setup and restore). */
  onTrainStart?(loop: CellLoop): void | Promise<void>;
  /** After every step, with the counters advanced; a hook may replace `out.loss` (fault injection). */
  onTrainBatchEnd?(loop: CellLoop, out: StepOutput): void | Promise<void>;
  /** At the end of every epoch (and of the schedule), with `state.epoch` advanced; hooks fill `end` in. */
  onTrainEpochEnd?(loop: CellLoop, end: EpochEnd): void | Promise<void>;
  /** After the last step, or after the step at which the loop stopped (`loop.stopped`). */
  onTrainEnd?(loop: CellLoop): void | Promise<void>;
  /** After the final evaluation, before eval.json and the finished state are written. */
  onTestEnd?(loop: CellLoop): void | Promise<void>;

  onCellStart?(info: CellStartInfo): void;
  onProgress?(progress: CellProgress): void;
  /** The epoch is complete: evaluated, logged and checkpointed. */
  onEpochEnd?(cellId: string, line: EpochLine): void;
  onPhase?(cellId: string, phase: string): void;
  onCellEnd?(outcome: CellOutcome): void;
}

/** The hooks that CellLoop.hook calls (the rest are reporting hooks). */
export type LoopHook = 'onTrainStart' | 'onTrainBatchEnd' | 'onTrainEpochEnd' | 'onTrainEnd' | 'onTestEnd';
