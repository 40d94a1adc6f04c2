/**
 * GPU facts for `model:doctor`, the trainer's `--gpus` and `gpu:check`: the GPUs nvidia-smi lists,
 * whether the NVIDIA driver is there, which CUDA / cuDNN libraries TensorFlow loaded (and the wheel
 * versions they came from), and, when TensorFlow sees no GPU, why.
 *
 * Every external program runs from an argv array (never a shell string). The parsers are pure so the
 * tests can feed them the lines TensorFlow and nvidia-smi print on a GPU machine.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export interface NvidiaGpu {
  index: number;
  name: string;
  memoryMiB: number;
  driver: string;
  uuid: string;
}

export interface NvidiaSmiResult {
  gpus: NvidiaGpu[];
  /** Why the list could not be read (nvidia-smi missing or failing); null when it ran. */
  error: string | null;
}

export const NVIDIA_SMI_ARGS = [
  '--query-gpu=index,name,memory.total,driver_version,uuid',
  '--format=csv,noheader,nounits',
];

/** Rows of `nvidia-smi --query-gpu=index,name,memory.total,driver_version,uuid --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(csv: string): NvidiaGpu[] {
  const gpus: NvidiaGpu[] = [];
  for (const line of csv.split('\n')) {
    if (!line.trim()) continue;
    const f = line.split(',').map((s) => s.trim());
    const index = Number(f[0]);
    if (f.length < 5 || !Number.isInteger(index))
      throw new Error(`nvidia-smi: unexpected line "${line.trim()}"`);
    gpus.push({ index, name: f[1]!, memoryMiB: Number(f[2]), driver: f[3]!, uuid: f[4]! });
  }
  return gpus;
}

/** The GPUs nvidia-smi lists (the driver's view, whatever CUDA_VISIBLE_DEVICES says). */
export function listNvidiaGpus(command = 'nvidia-smi'): NvidiaSmiResult {
  const r = spawnSync(command, NVIDIA_SMI_ARGS, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return { gpus: [], error: code === 'ENOENT' ? `${command} not found` : `${command}: ${r.error.message}` };
  }
  if (r.status !== 0) {
    const why = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n')[0] || `exit code ${r.status}`;
    return { gpus: [], error: `${command} failed: ${why}` };
  }
  try {
    return { gpus: parseNvidiaSmi(r.stdout), error: null };
  } catch (e) {
    return { gpus: [], error: (e as Error).message };
  }
}

export interface DriverFacts {
  /** The kernel module's version (/proc/driver/nvidia/version), null when no module is loaded. */
  kernelModule: string | null;
  /** Where the loader would find the driver's libcuda.so.1 (ldconfig cache or LD_LIBRARY_PATH), or null. */
  libcuda: string | null;
}

export function driverFacts(env: NodeJS.ProcessEnv = process.env): DriverFacts {
  let kernelModule: string | null = null;
  try {
    const text = fs.readFileSync('/proc/driver/nvidia/version', 'utf8');
    kernelModule = /Kernel Module\s+(\S+)/.exec(text)?.[1] ?? text.split('\n')[0]!.trim();
  } catch {
    /* no module */
  }
  return { kernelModule, libcuda: findLibcuda(env) };
}

function findLibcuda(env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)) {
    const f = path.join(dir, 'libcuda.so.1');
    if (fs.existsSync(f)) return f;
  }
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    try {
      const out = execFileSync(ldconfig, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const m =
        /^\s*libcuda\.so\.1 \([^)]*x86-64[^)]*\) => (\S+)/m.exec(out) ??
        /libcuda\.so\.1 .*=> (\S+)/.exec(out);
      return m ? m[1]! : null;
    } catch {
      /* try the next spelling */
    }
  }
  return null;
}

export interface TfGpuDevice {
  /** TensorFlow's name, `/job:localhost/replica:0/task:0/device:GPU:0`. */
  device: string;
  /** Index among the devices the process sees (after CUDA_VISIBLE_DEVICES). */
  index: number;
  name: string;
  memoryMiB: number;
  pciBusId: string;
  computeCapability: string;
}

export interface TfGpuLog {
  devices: TfGpuDevice[];
  /** TensorFlow's own lines on why a GPU is not used (driver, libraries, devices), de-duplicated. */
  problems: string[];
}

const DEVICE_RE =
  /Created device (\S*device:GPU:\d+) with (\d+) MB memory:\s*-> device: (\d+), name: (.+?), pci bus id: ([^,]+), compute capability: ([\d.]+)/;
const PROBLEM_RES = [
  /failed call to cuInit: .*/,
  /Could not load dynamic library '[^']+'; dlerror: .*/,
  /Cannot dlopen some GPU libraries.*/,
  /Could not find cuda drivers on your machine.*/,
  /kernel driver does not appear to be running on this host.*/,
  /no NVIDIA GPU device is present.*/,
  /CUDA_ERROR_NO_DEVICE.*/,
];

/** TensorFlow's C++ log (TF_CPP_MIN_LOG_LEVEL=0): the GPU devices it created and its complaints. */
export function parseTfGpuLog(stderr: string): TfGpuLog {
  const devices: TfGpuDevice[] = [];
  const problems: string[] = [];
  for (const line of stderr.split('\n')) {
    const d = DEVICE_RE.exec(line);
    if (d) {
      devices.push({
        device: d[1]!,
        memoryMiB: Number(d[2]),
        index: Number(d[3]),
        name: d[4]!,
        pciBusId: d[5]!,
        computeCapability: d[6]!,
      });
      continue;
    }
    for (const re of PROBLEM_RES) {
      const m = re.exec(line);
      if (m && !problems.includes(m[0].trim())) problems.push(m[0].trim());
    }
  }
  return { devices, problems };
}

export interface LoadedCudaLib {
  /** File name, e.g. libcudnn.so.9. */
  lib: string;
  file: string;
  /** The pip wheel it came from (`nvidia-cudnn-cu12`) and its version, when it came from one. */
  wheel: string | null;
  version: string | null;
}

const CUDA_LIB_RE =
  /\/(libcuda\.so[.\d]*|libcudart\.so[.\d]*|libcudnn\.so[.\d]*|libcublas\.so[.\d]*|libcublasLt\.so[.\d]*|libcufft\.so[.\d]*|libcusolver\.so[.\d]*|libcusparse\.so[.\d]*|libnvJitLink\.so[.\d]*)$/;

/**
 * The CUDA libraries mapped into this process (Linux /proc/self/maps), each with the version of the
 * NVIDIA wheel it was installed from (the `*.dist-info` beside the `nvidia/` folder, as pip lays out
 * `--target`). libcuda.so.1 is the driver's and has no wheel.
 */
export function loadedCudaLibs(maps?: string): LoadedCudaLib[] {
  let text = maps;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/maps', 'utf8');
    } catch {
      return [];
    }
  }
  const files = new Set<string>();
  for (const line of text.split('\n')) {
    const file = line.slice(line.indexOf('/'));
    if (line.includes('/') && CUDA_LIB_RE.test(file)) files.add(file);
  }
  return [...files].map((file) => ({ lib: path.basename(file), file, ...wheelOf(file) }));
}

function wheelOf(file: string): { wheel: string | null; version: string | null } {
  // <target>/nvidia/<dir>/lib/<file>: pip's dist-info of the wheel sits in <target>
  const m = /^(.*)\/nvidia\/[^/]+\/lib\/[^/]+$/.exec(file);
  if (!m) return { wheel: null, version: null };
  const target = m[1]!;
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(target);
  } catch {
    return { wheel: null, version: null };
  }
  for (const e of entries) {
    const d = /^(nvidia_[a-z0-9_]+)-([\d.]+)\.dist-info$/.exec(e);
    if (!d) continue;
    try {
      const record = fs.readFileSync(path.join(target, e, 'RECORD'), 'utf8');
      if (record.includes(path.relative(target, file)))
        return { wheel: d[1]!.replace(/_/g, '-'), version: d[2]! };
    } catch {
      /* no RECORD: not ours to attribute */
    }
  }
  return { wheel: null, version: null };
}

export interface GpuFacts {
  /** @tensorflow/tfjs-node-gpu is installed. */
  installed: boolean;
  cudaVisibleDevices: string | undefined;
  driver: DriverFacts;
  smi: NvidiaSmiResult;
  /** TensorFlow's view (null when it was not asked: not installed). */
  tf: TfGpuLog | null;
}

/** One line on why TensorFlow uses no GPU (null when it sees one): no driver, libraries not found, no device. */
export function whyNoGpu(f: GpuFacts): string | null {
  if (f.tf && f.tf.devices.length > 0) return null;
  if (!f.installed) return '@tensorflow/tfjs-node-gpu is not installed (npm run native:gpu)';
  const cvd = f.cudaVisibleDevices;
  if (cvd !== undefined && (cvd.trim() === '' || cvd.trim() === '-1'))
    return `no device: CUDA_VISIBLE_DEVICES="${cvd}" hides every GPU`;
  if (!f.driver.libcuda) {
    return f.driver.kernelModule
      ? `no driver library: the NVIDIA kernel module ${f.driver.kernelModule} is loaded but libcuda.so.1 is not loadable (not in the ldconfig cache or LD_LIBRARY_PATH; in a container, start it with the NVIDIA container toolkit)`
      : 'no driver: libcuda.so.1 is not loadable and no NVIDIA kernel module is loaded (/proc/driver/nvidia/version absent)';
  }
  const missing = f.tf?.problems.filter((p) => /dynamic library|dlopen/.test(p)) ?? [];
  if (missing.length > 0) return `libraries not found: ${missing.join('; ')} (rerun npm run native:gpu)`;
  if (!f.smi.error && f.smi.gpus.length === 0) return 'no device: nvidia-smi lists no GPU';
  const cuInit = f.tf?.problems.find((p) => p.startsWith('failed call to cuInit'));
  if (cuInit) return `no device: ${cuInit}`;
  return `TensorFlow created no GPU device${f.tf?.problems.length ? ` (${f.tf.problems.join('; ')})` : ''}`;
}
