/**
 * Backend selection: `auto | tensorflow | tensorflow-gpu | cpu`.
 *
 * - `tensorflow`: `@tensorflow/tfjs-node` bound to the TensorFlow C library staged by
 *   `tools/native-backend/setup.js` (oneDNN kernels, the fast path used everywhere in this package).
 * - `tensorflow-gpu`: `@tensorflow/tfjs-node-gpu` on the CUDA build of the same TensorFlow, installed
 *   by `npm run native:gpu` (README "GPU backend"); TensorFlow's memory growth is on by default
 *   (TF_FORCE_GPU_ALLOW_GROWTH=true), so a process takes only the GPU memory it uses.
 * - `cpu`: the pure-JavaScript tfjs backend; correct but about 1 training image per second.
 * - `auto`: tensorflow-gpu when it is installed and an NVIDIA driver is loaded (and CUDA_VISIBLE_DEVICES
 *   does not hide every GPU), else tensorflow, else cpu: the first of them that loads. Without a GPU
 *   the GPU build would only run the same CPU kernels, so auto leaves it alone there.
 *
 * Threads: TensorFlow reads TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS (and oneDNN reads
 * OMP_NUM_THREADS) once, when its eager context is created, which happens when the native addon is
 * first required. `initBackend(name, { threads })` sets the three variables before that; a later call
 * cannot change them (the trainer sets them per worker process instead).
 */
import * as fs from 'fs';
import { availableCores } from '@sbir/core';
import * as tf from '@tensorflow/tfjs-core';

export type BackendName = 'auto' | 'tensorflow' | 'tensorflow-gpu' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tensorflow', 'tensorflow-gpu', 'cpu'];

export interface BackendInfo {
  /** The backend in use (never 'auto'). */
  name: Exclude<BackendName, 'auto'>;
  /** What the caller asked for. */
  requested: BackendName;
  /** Version of the TensorFlow C library behind the native backend; null on `cpu`. */
  tfVersion: string | null;
  /** tfjs-core version. */
  tfjsVersion: string;
  /** Intra-op threads TensorFlow uses (1 on `cpu`, which is single-threaded JavaScript). */
  threads: number;
  /** Inter-op threads, or null where TensorFlow picks (unset) or on `cpu`. */
  interOpThreads: number | null;
  /** Where `threads` comes from: the environment variable, or TensorFlow's default (cores visible). */
  threadSource: 'TF_NUM_INTRAOP_THREADS' | 'default' | 'n/a';
  /** Whether TensorFlow's oneDNN kernels are on (TF_ENABLE_ONEDNN_OPTS unset or 1); null on `cpu`. */
  oneDNN: boolean | null;
  /** Loud warning for slow or untested setups; also printed to stderr by initBackend. */
  warning?: string;
}

export interface InitBackendOptions {
  /** Sets TF_NUM_INTRAOP_THREADS and OMP_NUM_THREADS (and TF_NUM_INTEROP_THREADS to the same count) if the
   *  native library is not loaded yet. Ignored with a warning afterwards. */
  threads?: number;
  /** Do not print the warning (it is still returned). */
  quiet?: boolean;
}

export const CPU_BACKEND_WARNING =
  'WARNING: using the pure-JavaScript "cpu" backend. Expect about 1 training image per second or less ' +
  '(resnet-tiny, 64x64: hundreds of times slower than the native "tensorflow" backend). Use --backend tensorflow.';

export const GPU_INSTALL_HINT =
  'backend "tensorflow-gpu" is not available: @tensorflow/tfjs-node-gpu is not installed; ' +
  'install it with: npm run native:gpu (node tools/native-backend/setup.js --variant gpu --build --install; ' +
  'see packages/model/README.md, section "GPU backend")';

/** An NVIDIA kernel driver is loaded and CUDA_VISIBLE_DEVICES does not hide every device. */
export function gpuMayBePresent(env: NodeJS.ProcessEnv = process.env): boolean {
  const cvd = env.CUDA_VISIBLE_DEVICES?.trim();
  if (cvd === '' || cvd === '-1') return false;
  return fs.existsSync('/proc/driver/nvidia/version');
}

type NativeKind = 'tensorflow' | 'tensorflow-gpu';
let loadedNative: NativeKind | null = null;
let current: BackendInfo | null = null;

interface NativeBinding {
  TF_Version: string;
  isUsingGpuDevice(): boolean;
}

function moduleAvailable(id: string): boolean {
  try {
    require.resolve(id);
    return true;
  } catch {
    return false;
  }
}

function positiveIntEnv(name: string): number | null {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : null;
}

function loadNative(kind: NativeKind, opts: InitBackendOptions): void {
  if (loadedNative === kind) return;
  if (loadedNative !== null) {
    throw new Error(
      `backend "${kind}" cannot be loaded: "${loadedNative}" is already loaded in this process`,
    );
  }
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) {
      throw new Error(`Expected threads to be a positive integer, but got ${opts.threads}.`);
    }
    process.env.TF_NUM_INTRAOP_THREADS = String(opts.threads);
    // inter-op = intra-op: the graph step (stepMode graph) runs independent kernels of the traced step
    // side by side; measured on the demo net, 2 vs 1 inter-op threads at 2 intra-op threads: 1391-1415
    // vs 1151-1186 images/s (AMD EPYC, 2026-12-07). Eager steps run one kernel at a time either way.
    process.env.TF_NUM_INTEROP_THREADS = process.env.TF_NUM_INTEROP_THREADS ?? String(opts.threads);
    process.env.OMP_NUM_THREADS = String(opts.threads);
  }
  // oneDNN on explicitly unless the user chose: with the variable unset, TensorFlow 2.18 here (AMD
  // EPYC) runs grouped-convolution gradients on its Eigen kernels, which refuse them (conv.ts then
  // falls back to one kernel per group); set to 1, oneDNN runs them, 2.6x faster for a whole
  // SE-ResNeXt-50 training step (bench/results/model.json, paperScale). Ungrouped kernels measured
  // the same CPU time either way.
  process.env.TF_ENABLE_ONEDNN_OPTS = process.env.TF_ENABLE_ONEDNN_OPTS ?? '1';
  // Quiet TensorFlow's C++ INFO lines (oneDNN/cpu-feature banners) unless the user asked for them.
  process.env.TF_CPP_MIN_LOG_LEVEL = process.env.TF_CPP_MIN_LOG_LEVEL ?? '1';
  // Memory growth: without it each TensorFlow process reserves nearly all memory of every GPU it
  // sees, so a second worker on the same card would fail to allocate.
  process.env.TF_FORCE_GPU_ALLOW_GROWTH = process.env.TF_FORCE_GPU_ALLOW_GROWTH ?? 'true';
  const id = kind === 'tensorflow' ? '@tensorflow/tfjs-node' : '@tensorflow/tfjs-node-gpu';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(id);
  loadedNative = kind;
}

function nativeBinding(): NativeBinding {
  return (tf.findBackend('tensorflow') as unknown as { binding: NativeBinding }).binding;
}

/** True when the current backend is TensorFlow (CPU or GPU build), i.e. raw TF ops are reachable. */
export function isNativeBackend(): boolean {
  return tf.getBackend() === 'tensorflow';
}

/** The BackendInfo of the last successful initBackend, or null. */
export function currentBackend(): BackendInfo | null {
  return current;
}

function describeNative(kind: NativeKind, requested: BackendName): BackendInfo {
  const intra = positiveIntEnv('TF_NUM_INTRAOP_THREADS');
  const binding = nativeBinding();
  const info: BackendInfo = {
    name: kind,
    requested,
    tfVersion: binding.TF_Version,
    tfjsVersion: tf.version_core,
    threads: intra ?? availableCores(),
    interOpThreads: positiveIntEnv('TF_NUM_INTEROP_THREADS'),
    threadSource: intra === null ? 'default' : 'TF_NUM_INTRAOP_THREADS',
    oneDNN: process.env.TF_ENABLE_ONEDNN_OPTS !== '0',
  };
  if (kind === 'tensorflow-gpu' && !binding.isUsingGpuDevice()) {
    info.warning =
      'WARNING: @tensorflow/tfjs-node-gpu loaded but TensorFlow found no GPU; running on the CPU.';
  }
  return info;
}

/**
 * Selects and initialises a backend. Idempotent for the same native library; switching between a
 * native backend and `cpu` is allowed (both stay registered), loading both native builds is not.
 */
export async function initBackend(
  name: BackendName = 'auto',
  opts: InitBackendOptions = {},
): Promise<BackendInfo> {
  if (!BACKEND_NAMES.includes(name)) {
    throw new Error(`unknown backend "${String(name)}" (known: ${BACKEND_NAMES.join(', ')})`);
  }
  if (opts.threads !== undefined && loadedNative !== null) {
    const have = positiveIntEnv('TF_NUM_INTRAOP_THREADS');
    if (have !== opts.threads) {
      process.stderr.write(
        `warning: threads=${opts.threads} ignored: TensorFlow is already initialised (${have ?? 'default'} threads)\n`,
      );
    }
  }
  let info: BackendInfo;
  if (name === 'cpu') {
    info = await initCpu(name);
  } else if (name === 'tensorflow-gpu') {
    if (!moduleAvailable('@tensorflow/tfjs-node-gpu')) throw new Error(GPU_INSTALL_HINT);
    loadNative('tensorflow-gpu', opts);
    await tf.setBackend('tensorflow');
    info = describeNative('tensorflow-gpu', name);
  } else if (name === 'tensorflow') {
    loadNative('tensorflow', opts);
    await tf.setBackend('tensorflow');
    info = describeNative('tensorflow', name);
  } else {
    // auto: tensorflow-gpu, then tensorflow, then cpu.
    let kind: NativeKind | null = loadedNative;
    const candidates: NativeKind[] = kind
      ? [kind]
      : gpuMayBePresent()
        ? ['tensorflow-gpu', 'tensorflow']
        : ['tensorflow'];
    kind = null;
    for (const k of candidates) {
      const id = k === 'tensorflow' ? '@tensorflow/tfjs-node' : '@tensorflow/tfjs-node-gpu';
      if (loadedNative !== k && !moduleAvailable(id)) continue;
      try {
        loadNative(k, opts);
        kind = k;
        break;
      } catch (err) {
        process.stderr.write(`note: ${id} did not load (${(err as Error).message.split('\n')[0]})\n`);
      }
    }
    if (kind !== null) {
      await tf.setBackend('tensorflow');
      info = describeNative(kind, name);
    } else {
      info = await initCpu(name);
    }
  }
  await tf.ready();
  if (info.warning && !opts.quiet) process.stderr.write(`\n${info.warning}\n\n`);
  current = info;
  return info;
}

async function initCpu(requested: BackendName): Promise<BackendInfo> {
  // The @tensorflow/tfjs union registers the cpu backend and the gradients (tfjs-core alone does not
  // register gradients). tfjs-node loads it too, so this is a no-op after a native backend.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@tensorflow/tfjs');
  const ok = await tf.setBackend('cpu');
  if (!ok) throw new Error('backend "cpu" failed to initialise');
  return {
    name: 'cpu',
    requested,
    tfVersion: null,
    tfjsVersion: tf.version_core,
    threads: 1,
    interOpThreads: null,
    threadSource: 'n/a',
    oneDNN: null,
    warning: CPU_BACKEND_WARNING,
  };
}
