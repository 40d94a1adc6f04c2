/** Messages between the ablation process and its worker processes (child_process IPC). */
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
 * Hooks of a running cell (Lightning's no-op Callback): the worker forwards them to the parent; tests
 * and other embedders can pass their own. Every hook is optional.
 */
export interface Callback {
  onCellStart?(info: CellStartInfo): void;
  onProgress?(progress: CellProgress): void;
  onEpochEnd?(cellId: string, line: EpochLine): void;
  onPhase?(cellId: string, phase: string): void;
  onCellEnd?(outcome: CellOutcome): void;
}
