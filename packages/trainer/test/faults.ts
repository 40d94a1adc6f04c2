/**
 * Fault injection for the tests, as a cell callback (never production code): a NaN loss at a step of
 * the cells some `--only` filters pick, a sleep after every step (to kill a cell mid-way), a sleep
 * after the final evaluation, before eval.json (to kill a cell there).
 *
 * In-process tests pass `new FaultInjection(spec)` to runCell or registerCellCallbacks. Tests that run
 * the CLI give it `faultEnv(spec)`: NODE_OPTIONS preloads faults-preload.cjs into the CLI and every
 * process it starts (workers, Slurm tasks), which registers the callback from SBIR_TEST_FAULTS.
 */
import * as path from 'node:path';
import { registerCellCallbacks } from '../src/callbacks';
import type { CellLoop, StepOutput } from '../src/loop';
import { matchesOnly, parseOnly } from '../src/only';
import type { Callback } from '../src/protocol';

export interface FaultSpec {
  /** Report the loss of this step as NaN (the cell must fail cleanly). */
  nanAtStep?: number;
  /** ...only in the cells these `--only` filters pick (every cell when unset). */
  nanCells?: string;
  /** Sleep after every training step. */
  stepDelayMs?: number;
  /** Sleep after the final evaluation, before eval.json. */
  finalEvalDelayMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class FaultInjection implements Callback {
  constructor(readonly spec: FaultSpec) {}

  async onTrainBatchEnd(loop: CellLoop, out: StepOutput): Promise<void> {
    const { nanAtStep, nanCells, stepDelayMs } = this.spec;
    const picked = !nanCells || matchesOnly(loop.ctx.config, parseOnly([nanCells]));
    if (nanAtStep === loop.state.step && picked) out.loss = NaN;
    if (stepDelayMs) await sleep(stepDelayMs);
  }

  async onTestEnd(): Promise<void> {
    if (this.spec.finalEvalDelayMs) await sleep(this.spec.finalEvalDelayMs);
  }
}

const ENV = 'SBIR_TEST_FAULTS';
const PRELOAD = path.join(__dirname, 'faults-preload.cjs');

/** Environment entries that make a CLI child (and its workers) inject `spec`. */
export function faultEnv(spec: FaultSpec): Record<string, string> {
  const inherited = process.env.NODE_OPTIONS ? `${process.env.NODE_OPTIONS} ` : '';
  return { NODE_OPTIONS: `${inherited}--require ${JSON.stringify(PRELOAD)}`, [ENV]: JSON.stringify(spec) };
}

/** Called by faults-preload.cjs: registers the fault callback that SBIR_TEST_FAULTS describes. */
export function registerFromEnv(): void {
  const raw = process.env[ENV];
  if (raw) registerCellCallbacks(new FaultInjection(JSON.parse(raw) as FaultSpec));
}
