/**
 * MLflow as a sink that mirrors the run store. One idempotent operation, `syncCell`, serves both the
 * live mirror during an ablation and `trainer:sync` afterwards:
 *
 * - the run is found by its `sbir.cell_id` tag (or the id cached in the cell's mlflow.json), created once;
 * - params are the flattened config; only keys the run lacks are sent (MLflow params are write-once);
 * - metrics: for every key, only points with a step after the run's latest step for that key are sent,
 *   so re-pushing never duplicates a point (the server is the cursor; nothing can drift);
 * - artifacts missing on the server, or of another size, are uploaded;
 * - the run status mirrors status.json (FINISHED / FAILED / KILLED / RUNNING).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomicSync } from '@sbir/core';
import { CellStore, readJsonFile, type CellStatus } from '../run-store';
import { settingsOf } from '../grid';
import { readLineage } from '../lineage';
import type { CellConfig } from '../schema';
import {
  MAX_PARAM_LENGTH,
  MlflowClient,
  mlflowKey,
  type KeyValue,
  type DatasetInput,
  type MlflowMetric,
  type Run,
  type RunStatus,
} from './client';

export const CELL_ID_TAG = 'sbir.cell_id';
/**
 * MLflow 3's UI opens an experiment by its kind (experiment tag `mlflow.experimentKind`, read by the UI's
 * experiment page): `custom_model_development` opens it on the runs table; without the tag MLflow 3
 * may infer a GenAI experiment and open its overview. Set when missing (a kind chosen in the UI stays).
 */
export const EXPERIMENT_KIND_TAG = 'mlflow.experimentKind';
export const EXPERIMENT_KIND = 'custom_model_development';

export interface CellSyncOptions {
  /** May update status.json's mlflowRunId (false while a worker owns the cell's status). */
  mayWriteStatus: boolean;
}

export interface SyncResult {
  cellId: string;
  runId: string;
  created: boolean;
  params: number;
  metrics: number;
  artifacts: string[];
  status: RunStatus;
}

/** mlflow.json in a cell folder: the run this cell was mirrored to, per tracking server. */
interface MirrorRecord {
  trackingUri: string;
  experimentId: string;
  runId: string;
  lastSyncAt: string;
  /** Points on the server after the last sync, per metric key (what was synced; informative). */
  syncedSteps: Record<string, number>;
}

export function runStatusOf(state: CellStatus['state']): RunStatus {
  switch (state) {
    case 'finished':
      return 'FINISHED';
    case 'failed':
      return 'FAILED';
    case 'interrupted':
      return 'KILLED';
    case 'queued':
      return 'SCHEDULED';
    default:
      return 'RUNNING';
  }
}

/** {a: {b: 1}} -> [{key: "a.b", value: "1"}]; arrays are JSON. Bookkeeping fields are left out. */
export function flattenParams(config: CellConfig): KeyValue[] {
  const settings = settingsOf(config);
  const out: KeyValue[] = [];
  const walk = (value: unknown, prefix: string): void => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, prefix ? `${prefix}.${k}` : k);
    } else if (value !== undefined) {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      out.push({ key: mlflowKey(prefix), value: text.slice(0, MAX_PARAM_LENGTH) });
    }
  };
  walk(settings, '');
  return out;
}

function ms(time: string | undefined | null): number {
  const t = time ? Date.parse(time) : NaN;
  return Number.isFinite(t) ? t : Date.now();
}

const STEP_KEYS = ['loss', 'lr', 'imagesPerSec'] as const;
const EPOCH_KEYS = ['trainLoss', 'mAP@all', 'P@200'] as const;
/**
 * The per-epoch evaluation runs on a subset (eval.epochQueries / epochGallery), so its numbers are not
 * the final ones: in MLflow they are `quick.mAP_all`, `quick.P_200` beside `final.mAP_all`, ...
 */
export const QUICK_PREFIX = 'quick.';
const QUICK_KEYS = new Set<string>(['mAP@all', 'P@200']);

/** Every metric point the run store holds for a cell, in step order. */
export function metricPoints(cell: CellStore): MlflowMetric[] {
  const points: MlflowMetric[] = [];
  const push = (key: string, value: unknown, step: number, time?: string | null): void => {
    if (typeof value === 'number' && Number.isFinite(value))
      points.push({ key: mlflowKey(key), value, step, timestamp: ms(time) });
  };
  let lastStep = 0;
  for (const line of cell.readMetrics()) {
    const keys = line.kind === 'step' ? STEP_KEYS : line.kind === 'epoch' ? EPOCH_KEYS : [];
    for (const key of keys) {
      const name = line.kind === 'epoch' && QUICK_KEYS.has(key) ? `${QUICK_PREFIX}${key}` : key;
      push(name, (line as unknown as Record<string, unknown>)[key], line.step, line.time);
    }
    if (line.kind === 'epoch') push('epoch', line.epoch, line.step, line.time);
    lastStep = Math.max(lastStep, line.step);
  }
  const evalResult = readJsonFile<Record<string, unknown>>(cell.file('eval.json'));
  if (evalResult) {
    const status = cell.readStatus();
    const step = Math.max(lastStep, status?.step ?? 0);
    const time = status?.finishedAt ?? status?.updatedAt;
    for (const key of ['mAP@all', 'P@200', 'mAP@200', 'evalSeconds', 'trainSeconds'])
      push(`final.${key}`, evalResult[key], step, time);
    const hamming = evalResult.hamming as Record<string, unknown> | null | undefined;
    if (hamming)
      for (const key of ['mAP@all', 'P@200']) push(`final.hamming.${key}`, hamming[key], step, time);
    const stats = evalResult.distanceStats as Record<string, unknown> | null | undefined;
    if (stats) push('final.fractionSeparated', stats.fractionSeparated, step, time);
  }
  return points.sort((a, b) => a.step - b.step);
}

/**
 * Run tags from the cell's own files (lineage.json, else status.json's gitSha), so that the live mirror
 * and `trainer sync` send the same ones. `fallbackSha` (the ablation's checkout) covers a cell that
 * has neither yet.
 */
export function lineageTags(
  cell: CellStore,
  status: CellStatus | null,
  fallbackSha?: string | null,
): KeyValue[] {
  const lineage = readLineage(cell.dir);
  const sha = lineage?.git.commit ?? status?.gitSha ?? fallbackSha ?? null;
  const tags: KeyValue[] = [];
  const add = (key: string, value: unknown): void => {
    if (value !== null && value !== undefined && value !== '') tags.push({ key, value: String(value) });
  };
  add('mlflow.source.git.commit', sha);
  add('sbir.git_sha', sha);
  if (lineage) {
    add('sbir.git_dirty', lineage.git.dirty);
    add('sbir.dataset.name', lineage.dataset.name);
    add('sbir.dataset.digest', lineage.dataset.digest);
    add('sbir.dataset.split', lineage.dataset.split);
    add('sbir.backend', lineage.backend.name);
    add('sbir.backend.tf_version', lineage.backend.tfVersion);
    add('sbir.backend.tfjs_version', lineage.backend.tfjsVersion);
    add('sbir.host', lineage.host.name);
    // the worker's GPU (trainer --gpus, Slurm's gres) and whether TensorFlow trained on one
    add('sbir.gpu.cuda_visible_devices', lineage.gpu?.cudaVisibleDevices);
    add('sbir.gpu.used', lineage.gpu?.used);
  }
  return tags;
}

/** The dataset input of a cell's run, from lineage.json (null before the cell has started). */
export function datasetInput(cell: CellStore): DatasetInput | null {
  const d = readLineage(cell.dir)?.dataset;
  if (!d?.digest) return null;
  return {
    dataset: {
      name: d.name,
      // MLflow shows up to 8 characters of the digest; the full one is in the profile and sbir.dataset.digest
      digest: d.digest.replace(/^sha256:/, '').slice(0, 36),
      source_type: 'local',
      source: JSON.stringify({ uri: d.dir }),
      profile: JSON.stringify({
        digest: d.digest,
        split: d.split,
        size: d.size,
        classes: d.classes,
        rows: d.rows,
      }),
    },
    tags: [{ key: 'mlflow.data.context', value: 'train' }],
  };
}

/** Files of a cell mirrored as artifacts (paths relative to the cell folder). */
export function artifactFiles(cell: CellStore): string[] {
  const files = [
    'config.json',
    'status.json',
    'lineage.json',
    'eval.json',
    'retrieval.json',
    'embeddings.json',
  ].filter((f) => fs.existsSync(cell.file(f)));
  const thumbs = cell.file('retrieval');
  if (fs.existsSync(thumbs)) {
    files.push(
      ...fs
        .readdirSync(thumbs)
        .filter((f) => f.endsWith('.png'))
        .sort()
        .map((f) => `retrieval/${f}`),
    );
  }
  return files;
}

export class MlflowMirror {
  readonly client: MlflowClient;
  private experimentId: string | null = null;

  constructor(
    readonly trackingUri: string,
    readonly experimentName: string,
    private readonly tags: { gitSha?: string | null; experimentFile?: string } = {},
  ) {
    this.client = new MlflowClient(trackingUri);
  }

  private async experiment(): Promise<string> {
    if (!this.experimentId) {
      const tags = [
        { key: EXPERIMENT_KIND_TAG, value: EXPERIMENT_KIND },
        ...(this.tags.experimentFile
          ? [{ key: 'sbir.experiment_file', value: this.tags.experimentFile }]
          : []),
      ];
      const found = await this.client.getExperimentByName(this.experimentName);
      if (found) {
        // An experiment made before this tag existed (or by someone else): give it a kind once.
        if (!(found.tags ?? []).some((t) => t.key === EXPERIMENT_KIND_TAG))
          await this.client.setExperimentTag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND);
        this.experimentId = found.experiment_id;
      } else {
        this.experimentId = await this.client.ensureExperiment(this.experimentName, tags);
      }
    }
    return this.experimentId;
  }

  /** The cell's run: cached id, else found by tag, else created. */
  private async findOrCreateRun(
    cell: CellStore,
    config: CellConfig,
    status: CellStatus | null,
  ): Promise<{ run: Run; created: boolean }> {
    const experimentId = await this.experiment();
    const record = readJsonFile<MirrorRecord>(cell.file('mlflow.json'));
    if (record && record.trackingUri === this.trackingUri && record.experimentId === experimentId) {
      const run = await this.client.getRun(record.runId);
      if (run && run.info.lifecycle_stage === 'active') return { run, created: false };
    }
    const found = await this.client.searchRunsByTag([experimentId], CELL_ID_TAG, config.cellId);
    if (found.length > 0) {
      // Oldest first: should two ever exist (two mirrors racing), keep mirroring into the first.
      found.sort((a, b) => (a.info.start_time ?? 0) - (b.info.start_time ?? 0));
      return { run: found[0]!, created: false };
    }
    const tags: KeyValue[] = [
      { key: CELL_ID_TAG, value: config.cellId },
      { key: 'sbir.experiment', value: config.experiment },
      { key: 'sbir.run_store', value: cell.dir },
      ...Object.entries(config.axes).map(([k, v]) => ({
        key: mlflowKey(`sbir.axis.${k}`),
        value: String(v),
      })),
    ];
    tags.push(...lineageTags(cell, status, this.tags.gitSha));
    const label = Object.values(config.axes).join('-');
    const startTime = ms(status?.startedAt ?? status?.createdAt);
    const run = await this.client.createRun(
      experimentId,
      label ? `${label}-${config.cellId.slice(0, 6)}` : config.cellId,
      tags,
      startTime,
    );
    return { run, created: true };
  }

  /** Mirrors one cell folder into its MLflow run. Idempotent; throws MlflowError when the server fails. */
  async syncCell(cell: CellStore, opts: CellSyncOptions): Promise<SyncResult | null> {
    const config = cell.readConfig();
    if (!config) return null;
    const status = cell.readStatus();
    const { run, created } = await this.findOrCreateRun(cell, config, status);
    const runId = run.info.run_id;
    if (opts.mayWriteStatus && status && status.mlflowRunId !== runId)
      cell.updateStatus({ mlflowRunId: runId });

    const have = new Set((run.data.params ?? []).map((p) => p.key));
    const params = flattenParams(config).filter((p) => !have.has(p.key));

    const latest = new Map<string, number>();
    for (const m of run.data.metrics ?? []) latest.set(m.key, m.step);
    const metrics = metricPoints(cell).filter((p) => p.step > (latest.get(p.key) ?? -Infinity));
    const errorTag: KeyValue[] = status?.error
      ? [{ key: 'sbir.error', value: status.error.slice(0, 5000) }]
      : [];
    // Tags the run lacks or holds another value of (lineage.json is written when the cell starts).
    const runTags = new Map((run.data.tags ?? []).map((t) => [t.key, t.value]));
    const tags = [...lineageTags(cell, status, this.tags.gitSha), ...errorTag].filter(
      (t) => runTags.get(t.key) !== t.value,
    );
    if (params.length || metrics.length || tags.length)
      await this.client.logBatch(runId, { params, metrics, tags });
    await this.syncDatasetInput(cell, run);

    const artifacts = await this.syncArtifacts(cell, run);

    const want = runStatusOf(status?.state ?? 'queued');
    if (run.info.status !== want) {
      const terminal = want === 'FINISHED' || want === 'FAILED' || want === 'KILLED';
      await this.client.setTerminated(
        runId,
        want,
        terminal ? ms(status?.finishedAt ?? status?.updatedAt) : undefined,
      );
    }

    const syncedSteps: Record<string, number> = Object.fromEntries(latest);
    for (const m of metrics) syncedSteps[m.key] = Math.max(syncedSteps[m.key] ?? -1, m.step);
    writeJsonAtomicSync(cell.file('mlflow.json'), {
      trackingUri: this.trackingUri,
      experimentId: run.info.experiment_id,
      runId,
      lastSyncAt: new Date().toISOString(),
      syncedSteps,
    } satisfies MirrorRecord);
    return {
      cellId: config.cellId,
      runId,
      created,
      params: params.length,
      metrics: metrics.length,
      artifacts,
      status: want,
    };
  }

  /** The cell's dataset as an MLflow input (name + manifest digest), logged once per run. */
  private async syncDatasetInput(cell: CellStore, run: Run): Promise<void> {
    const input = datasetInput(cell);
    if (!input) return;
    const logged = (run.inputs?.dataset_inputs ?? []).some(
      (d) => d.dataset.name === input.dataset.name && d.dataset.digest === input.dataset.digest,
    );
    if (!logged) await this.client.logInputs(run.info.run_id, [input]);
  }

  private async syncArtifacts(cell: CellStore, run: Run): Promise<string[]> {
    const files = artifactFiles(cell);
    const remote = new Map<string, number | undefined>();
    const dirs = new Set(['', ...files.filter((f) => f.includes('/')).map((f) => path.dirname(f))]);
    for (const dir of dirs)
      for (const f of await this.client.listArtifacts(run.info.run_id, dir)) remote.set(f.path, f.file_size);
    const sent: string[] = [];
    for (const file of files) {
      const data = fs.readFileSync(cell.file(file));
      // status.json changes on every sync of a running cell; send it only once the cell is done.
      if (file === 'status.json' && runStatusOf(cell.readStatus()?.state ?? 'queued') === 'RUNNING') continue;
      if (remote.get(file) === data.length) continue;
      if (await this.client.uploadArtifact(run.info, file, data)) sent.push(file);
    }
    return sent;
  }
}
