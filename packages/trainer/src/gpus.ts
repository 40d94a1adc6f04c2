/**
 * `--gpus all|0,1|none`: which GPUs the local executor's workers train on, one per worker.
 *
 * With N GPUs the pool starts N workers (fewer when there are fewer cells; `--workers` may ask for
 * another count, the GPUs are then dealt round-robin) and worker i gets CUDA_VISIBLE_DEVICES=<its GPU>,
 * so TensorFlow in that process sees one card as GPU:0. TensorFlow's memory growth is on in every
 * worker (TF_FORCE_GPU_ALLOW_GROWTH=true), so no process reserves a card's memory it does not use.
 * `none` hides every GPU (CUDA_VISIBLE_DEVICES=-1). Without `--gpus` the workers inherit the
 * environment as before, except that `auto`/`tensorflow-gpu` on a machine with an NVIDIA driver
 * means `all` (several workers on one card is what this option exists to prevent).
 */
import { gpuMayBePresent, listNvidiaGpus, type NvidiaSmiResult } from '@sbir/model';
import { ConfigError } from './messages';

/** The parsed option: `all`, `none`, or device indices as nvidia-smi numbers them. */
export type GpuRequest = 'all' | 'none' | number[];

export function parseGpus(value: string, option = '--gpus'): GpuRequest {
  const v = value.trim();
  if (v === 'all' || v === 'none') return v;
  const parts = v.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p)))
    throw new ConfigError(
      `${option} ${JSON.stringify(value)}: expected all, none or GPU indices such as 0,1`,
    );
  const ids = parts.map(Number);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) throw new ConfigError(`${option} ${value}: GPU ${dup} is listed twice`);
  return ids;
}

/**
 * The GPUs to deal out (as CUDA_VISIBLE_DEVICES values), or null for "leave the environment alone".
 * `all` asks nvidia-smi (argv array, no shell); listed indices must be among those it lists, when it
 * runs. `detect` is there so the tests can state what nvidia-smi would list.
 */
export function resolveGpus(
  request: GpuRequest | undefined,
  backend: string,
  detect: () => NvidiaSmiResult = () => listNvidiaGpus(),
  driverPresent: () => boolean = () => gpuMayBePresent(),
): string[] | null {
  if (request === 'none') return [];
  if (request === undefined) {
    // Default: one GPU per worker where GPUs are there and the backend may use them.
    if (!(backend === 'auto' || backend === 'tensorflow-gpu') || !driverPresent()) return null;
    const found = detect();
    return found.error || found.gpus.length === 0 ? null : found.gpus.map((g) => String(g.index));
  }
  const found = detect();
  if (request === 'all') {
    if (found.error) throw new ConfigError(`--gpus all: cannot list the GPUs (${found.error})`);
    if (found.gpus.length === 0) throw new ConfigError('--gpus all: nvidia-smi lists no GPU');
    return found.gpus.map((g) => String(g.index));
  }
  if (!found.error) {
    const known = found.gpus.map((g) => g.index);
    const bad = request.find((id) => !known.includes(id));
    if (bad !== undefined)
      throw new ConfigError(
        `--gpus ${request.join(',')}: no GPU ${bad} (nvidia-smi lists ${known.length ? known.join(', ') : 'none'})`,
      );
  }
  return request.map(String);
}

/** The environment a worker gets for its GPU: `gpus` from resolveGpus, `index` the worker's number. */
export function workerGpuEnv(gpus: string[] | null, index: number): Record<string, string> {
  if (gpus === null) return { TF_FORCE_GPU_ALLOW_GROWTH: process.env.TF_FORCE_GPU_ALLOW_GROWTH ?? 'true' };
  return {
    CUDA_VISIBLE_DEVICES: gpus.length === 0 ? '-1' : gpus[index % gpus.length]!,
    TF_FORCE_GPU_ALLOW_GROWTH: 'true',
  };
}

/** One phrase for the header and --dry-run. */
export function describeGpus(gpus: string[] | null, workers: number): string {
  if (gpus === null) return '';
  if (gpus.length === 0) return ', no GPU (CUDA_VISIBLE_DEVICES=-1)';
  const dealt = Array.from({ length: workers }, (_, i) => gpus[i % gpus.length]);
  return `, GPU ${dealt.join(',')} (one per worker, CUDA_VISIBLE_DEVICES)`;
}
