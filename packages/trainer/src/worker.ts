/**
 * Worker process entry, forked by the ablation process (`childEntry` in entry.ts: worker.ts under tsx
 * from the sources, worker.js from a build). Initialises the TensorFlow backend once (threads from TF_NUM_INTRAOP_THREADS, set by the
 * parent), then trains the cells it is sent, one at a time, reporting over IPC.
 *
 * Signals: SIGINT/SIGTERM (or the parent going away) ask the running cell to stop after its current
 * step; it checkpoints, is marked interrupted, and the worker exits non-zero (130 / 143).
 */
import * as path from 'node:path';
import { sbirEnv } from '@sbir/core';
import { initBackend, type BackendInfo, type BackendName } from '@sbir/model';
import { runCell } from './cell';
import { datasetLineage, gitFromEnv, gitLineage, gpuLineage, hostLineage, writeLineage } from './lineage';
import { CellStore, nowIso } from './run-store';
import type { CellProgress, ParentMessage, WorkerMessage } from './protocol';

let stopSignal: NodeJS.Signals | null = null;
let busy = false;

const exitCode = (): number => (stopSignal === 'SIGINT' ? 130 : 143);

function send(msg: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) return resolve();
    try {
      process.send(msg, undefined, {}, () => resolve());
    } catch {
      resolve();
    }
  });
}

function requestStop(signal: NodeJS.Signals): void {
  stopSignal ??= signal;
  if (!busy) process.exit(exitCode());
}
process.on('SIGINT', () => requestStop('SIGINT'));
process.on('SIGTERM', () => requestStop('SIGTERM'));
// The parent died (or closed the channel): stop like on SIGTERM rather than train as an orphan.
process.on('disconnect', () => requestStop('SIGTERM'));

/** Progress is throttled to a few messages a second; the last step of a cell always goes through. */
let lastProgressAt = 0;
function sendProgress(progress: CellProgress): void {
  const now = Date.now();
  if (now - lastProgressAt < 250 && progress.step < progress.totalSteps) return;
  lastProgressAt = now;
  void send({ type: 'progress', progress });
}

/** lineage.json of the cell being started: the parent's git state, the dataset's manifest, this process. */
function recordLineage(cellDir: string, backend: BackendInfo): void {
  const cell = new CellStore(cellDir);
  const config = cell.readConfig();
  if (!config) return;
  writeLineage(cellDir, {
    formatVersion: 1,
    time: nowIso(),
    attempt: cell.readStatus()?.attempt ?? null,
    git: gitFromEnv() ?? gitLineage(path.resolve(__dirname, '..', '..', '..')),
    dataset: datasetLineage(config.dataset),
    backend: { name: backend.name, tfVersion: backend.tfVersion, tfjsVersion: backend.tfjsVersion },
    host: hostLineage(),
    gpu: gpuLineage(backend),
  });
}

async function main(): Promise<void> {
  // the parent sets both in the worker's environment (local-executor.ts)
  const { backend, threads } = sbirEnv();
  let backendName: string;
  let backendInfo: BackendInfo;
  try {
    const info = await initBackend(backend as BackendName, { threads, quiet: true });
    backendName = info.name;
    backendInfo = info;
    await send({
      type: 'ready',
      backend: info.name,
      threads: info.threads,
      pid: process.pid,
      warning: info.warning,
    });
  } catch (e) {
    await send({ type: 'fatal', error: (e as Error).message.split('\n')[0]! });
    process.exit(1);
  }
  process.on('message', (raw: unknown) => {
    const msg = raw as ParentMessage;
    if (msg.type === 'exit') process.exit(0);
    if (msg.type !== 'run' || busy) return;
    busy = true;
    void runCell({
      cellDir: msg.cellDir,
      mode: msg.mode,
      backend: backendName,
      shouldStop: () => stopSignal !== null,
      callbacks: [
        {
          onCellStart: (info) => {
            recordLineage(msg.cellDir, backendInfo);
            void send({ type: 'start', info });
          },
          onProgress: sendProgress,
          onEpochEnd: (cellId, line) => void send({ type: 'epoch', cellId, line }),
          onPhase: (cellId, phase) => void send({ type: 'phase', cellId, phase }),
        },
      ],
    })
      .then(async (outcome) => {
        busy = false;
        await send({ type: 'done', outcome });
        if (stopSignal) process.exit(exitCode());
      })
      .catch(async (e: unknown) => {
        // runCell records its own failures; reaching here means the run store itself failed.
        await send({ type: 'fatal', error: (e as Error).stack ?? String(e) });
        process.exit(1);
      });
  });
}

void main();
