/**
 * A small typed client over MLflow's REST API (2.0 paths, served unchanged by MLflow 3.x), with fetch.
 * Only what the trainer needs: experiments, runs, batched logging, status, and proxied artifacts.
 * Reference: https://mlflow.org/docs/latest/api_reference/rest-api.html
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface MlflowMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}
export interface KeyValue {
  key: string;
  value: string;
}
export interface RunInfo {
  run_id: string;
  experiment_id: string;
  run_name?: string;
  status: RunStatus;
  start_time?: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage: string;
}
/** An MLflow dataset (runs/log-inputs): `digest` identifies its content. */
export interface DatasetInput {
  dataset: {
    name: string;
    digest: string;
    source_type: string;
    source: string;
    schema?: string;
    profile?: string;
  };
  tags?: KeyValue[];
}
export interface Run {
  info: RunInfo;
  data: { metrics?: MlflowMetric[]; params?: KeyValue[]; tags?: KeyValue[] };
  inputs?: { dataset_inputs?: DatasetInput[] };
}
export interface MlflowExperiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage?: string;
  tags?: KeyValue[];
}
export interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

/** An error answered by the server (has an MLflow error code) or a transport failure (code null). */
export class MlflowError extends Error {
  override name = 'MlflowError';
  constructor(
    message: string,
    readonly status: number | null,
    readonly errorCode: string | null,
  ) {
    super(message);
  }
  /** True when the server could not be reached at all (refused, timeout, DNS). */
  get unreachable(): boolean {
    return this.status === null;
  }
}

/** Server limits of runs/log-batch (MLflow docs: 1000 metrics, 100 params, 100 tags per request). */
export const LOG_BATCH_LIMITS = { metrics: 1000, params: 100, tags: 100 } as const;
/** MLflow's param value limit (6000 characters since 2.x). */
export const MAX_PARAM_LENGTH = 6000;

/**
 * MLflow keys may hold alphanumerics, `_ - . : / ` and spaces; anything else becomes `_`
 * (so "mAP@all" is logged as "mAP_all").
 */
export function mlflowKey(key: string): string {
  return key.replace(/[^\w.\- :/]/g, '_');
}

export interface ClientOptions {
  /** Per request (default 15 s). */
  timeoutMs?: number;
}

export class MlflowClient {
  readonly base: string;
  private readonly timeoutMs: number;

  constructor(trackingUri: string, opts: ClientOptions = {}) {
    this.base = trackingUri.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  private async request<T>(
    method: 'GET' | 'POST' | 'PUT',
    apiPath: string,
    body?: unknown,
    query?: Record<string, string>,
  ): Promise<T> {
    const url = new URL(`${this.base}${apiPath}`);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers:
          body instanceof Uint8Array
            ? { 'Content-Type': 'application/octet-stream' }
            : { 'Content-Type': 'application/json' },
        body:
          body === undefined
            ? undefined
            : body instanceof Uint8Array
              ? new Blob([new Uint8Array(body)])
              : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new MlflowError(
        `${method} ${url.pathname}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
        null,
        null,
      );
    }
    const text = await res.text();
    let json: unknown = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { message: text.slice(0, 200) };
    }
    if (!res.ok) {
      const err = json as { error_code?: string; message?: string };
      throw new MlflowError(
        `${method} ${url.pathname}: HTTP ${res.status} ${err.error_code ?? ''} ${err.message ?? ''}`.trim(),
        res.status,
        err.error_code ?? null,
      );
    }
    return json as T;
  }

  async health(): Promise<boolean> {
    try {
      const res = await fetch(`${this.base}/health`, { signal: AbortSignal.timeout(this.timeoutMs) });
      return res.ok;
    } catch {
      return false;
    }
  }

  async getExperimentByName(name: string): Promise<MlflowExperiment | null> {
    try {
      const r = await this.request<{ experiment: MlflowExperiment }>(
        'GET',
        '/api/2.0/mlflow/experiments/get-by-name',
        undefined,
        { experiment_name: name },
      );
      return r.experiment;
    } catch (e) {
      if (e instanceof MlflowError && e.errorCode === 'RESOURCE_DOES_NOT_EXIST') return null;
      throw e;
    }
  }

  async createExperiment(name: string, tags: KeyValue[] = []): Promise<string> {
    const r = await this.request<{ experiment_id: string }>('POST', '/api/2.0/mlflow/experiments/create', {
      name,
      tags,
    });
    return r.experiment_id;
  }

  /** The experiment's id, created when missing (a concurrent create is tolerated). */
  async ensureExperiment(name: string, tags: KeyValue[] = []): Promise<string> {
    const found = await this.getExperimentByName(name);
    if (found) return found.experiment_id;
    try {
      return await this.createExperiment(name, tags);
    } catch (e) {
      if (e instanceof MlflowError && e.errorCode === 'RESOURCE_ALREADY_EXISTS') {
        const again = await this.getExperimentByName(name);
        if (again) return again.experiment_id;
      }
      throw e;
    }
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    await this.request('POST', '/api/2.0/mlflow/experiments/set-experiment-tag', {
      experiment_id: experimentId,
      key,
      value,
    });
  }

  /** runs/log-inputs: the datasets a run used (MLflow shows them in the run's "Datasets used"). */
  async logInputs(runId: string, datasets: DatasetInput[]): Promise<void> {
    const post = () => this.request('POST', '/api/2.0/mlflow/runs/log-inputs', { run_id: runId, datasets });
    try {
      await post();
    } catch (e) {
      // The server creates an experiment's dataset row on first use without a lock: two runs logging
      // the same dataset at once can both insert it and one gets a UNIQUE constraint error (seen with
      // two cells finishing together). The row exists by then, so a second try links it.
      if (!(
        e instanceof MlflowError &&
        e.status === 400 &&
        /UNIQUE constraint failed: datasets/.test(e.message)
      ))
        throw e;
      await new Promise((r) => setTimeout(r, 200));
      await post();
    }
  }

  async createRun(
    experimentId: string,
    runName: string,
    tags: KeyValue[],
    startTime = Date.now(),
  ): Promise<Run> {
    const r = await this.request<{ run: Run }>('POST', '/api/2.0/mlflow/runs/create', {
      experiment_id: experimentId,
      run_name: runName,
      start_time: startTime,
      tags,
    });
    return r.run;
  }

  async getRun(runId: string): Promise<Run | null> {
    try {
      const r = await this.request<{ run: Run }>('GET', '/api/2.0/mlflow/runs/get', undefined, {
        run_id: runId,
      });
      return r.run;
    } catch (e) {
      if (e instanceof MlflowError && e.errorCode === 'RESOURCE_DOES_NOT_EXIST') return null;
      throw e;
    }
  }

  /** Active runs matching an MLflow search filter, all pages. */
  async searchRuns(experimentIds: string[], filter: string): Promise<Run[]> {
    const runs: Run[] = [];
    let pageToken: string | undefined;
    do {
      const r = await this.request<{ runs?: Run[]; next_page_token?: string }>(
        'POST',
        '/api/2.0/mlflow/runs/search',
        {
          experiment_ids: experimentIds,
          filter,
          run_view_type: 'ACTIVE_ONLY',
          max_results: 1000,
          page_token: pageToken,
        },
      );
      runs.push(...(r.runs ?? []));
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return runs;
  }

  /** Runs whose tag `key` equals `value` (tag keys with dots are quoted with backticks). */
  searchRunsByTag(experimentIds: string[], key: string, value: string): Promise<Run[]> {
    return this.searchRuns(experimentIds, `tags.\`${key}\` = '${value.replace(/'/g, "\\'")}'`);
  }

  /** runs/log-batch, split to the server's per-request limits; metrics go in the order given. */
  async logBatch(
    runId: string,
    batch: { metrics?: MlflowMetric[]; params?: KeyValue[]; tags?: KeyValue[] },
  ): Promise<void> {
    const metrics = batch.metrics ?? [];
    const params = batch.params ?? [];
    const tags = batch.tags ?? [];
    let mi = 0;
    let pi = 0;
    let ti = 0;
    while (mi < metrics.length || pi < params.length || ti < tags.length) {
      const p = params.slice(pi, pi + LOG_BATCH_LIMITS.params);
      const t = tags.slice(ti, ti + LOG_BATCH_LIMITS.tags);
      const m = metrics.slice(mi, mi + LOG_BATCH_LIMITS.metrics - p.length - t.length);
      await this.request('POST', '/api/2.0/mlflow/runs/log-batch', {
        run_id: runId,
        metrics: m,
        params: p,
        tags: t,
      });
      mi += m.length;
      pi += p.length;
      ti += t.length;
    }
  }

  async setTerminated(runId: string, status: RunStatus, endTime?: number): Promise<void> {
    await this.request('POST', '/api/2.0/mlflow/runs/update', { run_id: runId, status, end_time: endTime });
  }

  async metricHistory(runId: string, key: string): Promise<MlflowMetric[]> {
    const out: MlflowMetric[] = [];
    let pageToken: string | undefined;
    do {
      const query: Record<string, string> = { run_id: runId, metric_key: key, max_results: '25000' };
      if (pageToken) query.page_token = pageToken;
      const r = await this.request<{ metrics?: MlflowMetric[]; next_page_token?: string }>(
        'GET',
        '/api/2.0/mlflow/metrics/get-history',
        undefined,
        query,
      );
      out.push(...(r.metrics ?? []));
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  async listArtifacts(runId: string, artifactPath = ''): Promise<FileInfo[]> {
    const query: Record<string, string> = { run_id: runId };
    if (artifactPath) query.path = artifactPath;
    const r = await this.request<{ files?: FileInfo[] }>(
      'GET',
      '/api/2.0/mlflow/artifacts/list',
      undefined,
      query,
    );
    return r.files ?? [];
  }

  /**
   * Stores one artifact file of a run. `mlflow-artifacts:/...` roots (a server started with
   * --serve-artifacts) go through the artifacts REST API; `file:` roots on this machine are written
   * directly. Returns false when the run's artifact root is neither (e.g. s3: without a proxy).
   */
  async uploadArtifact(run: RunInfo, artifactPath: string, data: Uint8Array): Promise<boolean> {
    const root = run.artifact_uri;
    if (root.startsWith('mlflow-artifacts:')) {
      const rel = root.replace(/^mlflow-artifacts:\/*/, '').replace(/^[^/]*:\d+\//, '');
      const encoded = [...rel.split('/'), ...artifactPath.split('/')]
        .filter(Boolean)
        .map(encodeURIComponent)
        .join('/');
      await this.request('PUT', `/api/2.0/mlflow-artifacts/artifacts/${encoded}`, data);
      return true;
    }
    const local = root.startsWith('file://') ? new URL(root).pathname : path.isAbsolute(root) ? root : null;
    if (local) {
      const file = path.join(local, artifactPath);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, data);
      return true;
    }
    return false;
  }
}
