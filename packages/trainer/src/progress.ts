/**
 * Progress of an ablation in the parent process, fed by worker messages: a cli-progress MultiBar
 * (one overall bar plus one bar per running cell) on a TTY, plain lines otherwise (CI logs, pipes).
 */
import { formatDuration } from '@sbir/core';
import cliProgress from 'cli-progress';
import type { EpochLine } from './run-store';
import type { CellOutcome, CellProgress, CellStartInfo } from './protocol';
import { fmt } from './table';

export interface ProgressView {
  cellStarted(info: CellStartInfo, label: string): void;
  cellProgress(p: CellProgress): void;
  cellEpoch(cellId: string, line: EpochLine, epochs: number): void;
  cellPhase(cellId: string, phase: string): void;
  cellDone(outcome: CellOutcome, label: string): void;
  log(line: string): void;
  stop(): void;
}

export function createProgressView(total: number, tty: boolean, write: (line: string) => void): ProgressView {
  return tty ? new BarView(total) : new LineView(total, write);
}

class LineView implements ProgressView {
  private done = 0;
  private readonly labels = new Map<string, string>();
  constructor(
    private readonly total: number,
    private readonly write: (line: string) => void,
  ) {}

  private prefix(cellId: string): string {
    return `[${this.done}/${this.total}] ${cellId} ${this.labels.get(cellId) ?? ''}`;
  }

  cellStarted(info: CellStartInfo, label: string): void {
    this.labels.set(info.cellId, label);
    const from = info.resumedFrom !== null ? `resumed at step ${info.resumedFrom}` : 'started';
    this.write(`${this.prefix(info.cellId)}: ${from} (${info.totalSteps} steps, ${info.epochs} epochs)`);
  }

  cellProgress(): void {
    // plain output: one line per epoch is enough
  }

  cellEpoch(cellId: string, line: EpochLine, epochs: number): void {
    this.write(
      `${this.prefix(cellId)}: epoch ${line.epoch}/${epochs} step ${line.step} loss ${fmt(line.trainLoss)} ` +
        `mAP@all ${fmt(line['mAP@all'])} P@200 ${fmt(line['P@200'])}`,
    );
  }

  cellPhase(cellId: string, phase: string): void {
    this.write(`${this.prefix(cellId)}: ${phase}`);
  }

  cellDone(outcome: CellOutcome, label: string): void {
    this.done++;
    this.labels.set(outcome.cellId, label);
    const result =
      outcome.state === 'finished'
        ? `finished in ${formatDuration(outcome.trainSeconds)}: mAP@all ${fmt(outcome['mAP@all'])} P@200 ${fmt(outcome['P@200'])}`
        : `${outcome.state}${outcome.error ? `: ${outcome.error}` : ''}`;
    this.write(`${this.prefix(outcome.cellId)}: ${result}`);
  }

  log(line: string): void {
    this.write(line);
  }

  stop(): void {}
}

class BarView implements ProgressView {
  private readonly multi: cliProgress.MultiBar;
  private readonly overall: cliProgress.SingleBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private done = 0;

  constructor(private readonly total: number) {
    this.multi = new cliProgress.MultiBar(
      {
        format: '{label} |{bar}| {value}/{total} {unit} | eta {eta_formatted} | {info}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    this.overall = this.multi.create(total, 0, {
      label: 'ablation'.padEnd(34),
      unit: 'cells',
      info: 'running',
    });
  }

  cellStarted(info: CellStartInfo, label: string): void {
    const text = `${info.cellId} ${label}`.slice(0, 34).padEnd(34);
    const bar = this.multi.create(info.totalSteps, info.step, {
      label: text,
      unit: 'steps',
      info: info.resumedFrom !== null ? `resumed at ${info.resumedFrom}` : 'starting',
    });
    this.bars.set(info.cellId, bar);
  }

  cellProgress(p: CellProgress): void {
    this.bars
      .get(p.cellId)
      ?.update(p.step, { info: `ep ${p.epoch} loss ${fmt(p.loss)} ${Math.round(p.imagesPerSec)} img/s` });
  }

  cellEpoch(cellId: string, line: EpochLine): void {
    this.bars.get(cellId)?.update(line.step, {
      info: `ep ${line.epoch} mAP ${fmt(line['mAP@all'])} P@200 ${fmt(line['P@200'])}`,
    });
  }

  cellPhase(cellId: string, phase: string): void {
    this.bars.get(cellId)?.update({ info: phase });
  }

  cellDone(outcome: CellOutcome, label: string): void {
    const bar = this.bars.get(outcome.cellId);
    if (bar) {
      this.multi.remove(bar);
      this.bars.delete(outcome.cellId);
    }
    this.done++;
    const result =
      outcome.state === 'finished'
        ? `mAP@all ${fmt(outcome['mAP@all'])} P@200 ${fmt(outcome['P@200'])} (${formatDuration(outcome.trainSeconds)})`
        : `${outcome.state}${outcome.error ? `: ${outcome.error}` : ''}`;
    this.multi.log(`${outcome.cellId} ${label}: ${result}\n`);
    this.overall.update(this.done, { info: this.done < this.total ? 'running' : 'done' });
  }

  log(line: string): void {
    this.multi.log(`${line}\n`);
  }

  stop(): void {
    this.multi.stop();
  }
}
