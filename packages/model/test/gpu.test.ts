import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gpuMayBePresent } from '../src/backend';
import { formatGpu, gpuReport } from '../src/cli';
import {
  listNvidiaGpus,
  loadedCudaLibs,
  parseNvidiaSmi,
  parseTfGpuLog,
  whyNoGpu,
  type GpuFacts,
} from '../src/gpu';

// Lines as TensorFlow 2.18 and nvidia-smi print them on a GPU machine.
const TF_GPU_LOG = [
  '2026-12-07 02:38:20.280379: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.',
  'I0000 00:00:1796611100.365180   26582 gpu_device.cc:2022] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 79097 MB memory:  -> device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 0000:00:05.0, compute capability: 9.0',
].join('\n');
const TF_CPU_LOG =
  '2026-12-07 02:38:20.365180: E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:152] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n';

const facts = (over: Partial<GpuFacts>): GpuFacts => ({
  installed: true,
  cudaVisibleDevices: undefined,
  driver: { kernelModule: '550.54.15', libcuda: '/usr/lib/x86_64-linux-gnu/libcuda.so.1' },
  smi: { gpus: parseNvidiaSmi('0, NVIDIA H100 80GB HBM3, 81559, 550.54.15, GPU-1\n'), error: null },
  tf: parseTfGpuLog(TF_CPU_LOG),
  ...over,
});

describe('GPU facts', () => {
  it('parses nvidia-smi rows and TensorFlow device lines', () => {
    expect(
      parseNvidiaSmi(
        '0, NVIDIA H100 80GB HBM3, 81559, 550.54.15, GPU-a\n1, Tesla T4, 15360, 550.54.15, GPU-b\n',
      ),
    ).toEqual([
      { index: 0, name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559, driver: '550.54.15', uuid: 'GPU-a' },
      { index: 1, name: 'Tesla T4', memoryMiB: 15360, driver: '550.54.15', uuid: 'GPU-b' },
    ]);
    expect(() => parseNvidiaSmi('No devices were found')).toThrow(/unexpected line "No devices were found"/);
    const log = parseTfGpuLog(TF_GPU_LOG);
    expect(log.devices).toEqual([
      {
        device: '/job:localhost/replica:0/task:0/device:GPU:0',
        index: 0,
        name: 'NVIDIA H100 80GB HBM3',
        memoryMiB: 79097,
        pciBusId: '0000:00:05.0',
        computeCapability: '9.0',
      },
    ]);
    expect(parseTfGpuLog(TF_CPU_LOG).problems).toEqual([
      'failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)',
    ]);
  });

  it('says why no GPU is used: not installed, hidden, no driver, libraries not found, no device', () => {
    expect(whyNoGpu(facts({ tf: parseTfGpuLog(TF_GPU_LOG) }))).toBeNull();
    expect(whyNoGpu(facts({ installed: false, tf: null }))).toMatch(/not installed \(npm run native:gpu\)/);
    expect(whyNoGpu(facts({ cudaVisibleDevices: '-1' }))).toBe(
      'no device: CUDA_VISIBLE_DEVICES="-1" hides every GPU',
    );
    expect(whyNoGpu(facts({ driver: { kernelModule: null, libcuda: null } }))).toMatch(
      /^no driver: libcuda\.so\.1 is not loadable and no NVIDIA kernel module/,
    );
    expect(whyNoGpu(facts({ driver: { kernelModule: '550.54.15', libcuda: null } }))).toMatch(
      /^no driver library: the NVIDIA kernel module 550\.54\.15 is loaded but libcuda\.so\.1/,
    );
    const dl =
      "W tensorflow/core] Could not load dynamic library 'libcudnn.so.9'; dlerror: libcudnn.so.9: cannot open shared object file";
    expect(whyNoGpu(facts({ tf: parseTfGpuLog(dl) }))).toMatch(
      /^libraries not found: Could not load dynamic library 'libcudnn\.so\.9'/,
    );
    expect(whyNoGpu(facts({ smi: { gpus: [], error: null } }))).toBe('no device: nvidia-smi lists no GPU');
    expect(whyNoGpu(facts({}))).toMatch(/^no device: failed call to cuInit/);
  });

  it('attributes mapped CUDA libraries to the pip wheel they came from', () => {
    const target = fs.mkdtempSync(path.join(os.tmpdir(), 'cuda-'));
    const lib = path.join(target, 'nvidia', 'cudnn', 'lib', 'libcudnn.so.9');
    fs.mkdirSync(path.dirname(lib), { recursive: true });
    fs.mkdirSync(path.join(target, 'nvidia_cudnn_cu12-9.3.0.75.dist-info'));
    fs.writeFileSync(
      path.join(target, 'nvidia_cudnn_cu12-9.3.0.75.dist-info', 'RECORD'),
      'nvidia/cudnn/lib/libcudnn.so.9,sha256=x,1\n',
    );
    const maps = [
      `7f00-7f01 r-xp 00000000 fd:00 1 ${lib}`,
      '7f02-7f03 r-xp 00000000 fd:00 2 /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15',
      '7f04-7f05 r-xp 00000000 fd:00 3 /usr/lib/x86_64-linux-gnu/libc.so.6',
    ].join('\n');
    expect(loadedCudaLibs(maps)).toEqual([
      { lib: 'libcudnn.so.9', file: lib, wheel: 'nvidia-cudnn-cu12', version: '9.3.0.75' },
      {
        lib: 'libcuda.so.550.54.15',
        file: '/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15',
        wheel: null,
        version: null,
      },
    ]);
    fs.rmSync(target, { recursive: true });
  });

  it('nvidia-smi missing is reported, not thrown', () => {
    const none = listNvidiaGpus('nvidia-smi-that-does-not-exist');
    expect(none).toEqual({ gpus: [], error: 'nvidia-smi-that-does-not-exist not found' });
  });

  // This machine has no NVIDIA driver; with the GPU build installed (npm run native:gpu), TensorFlow
  // loads, finds none, and the report says that; without it, that it is not installed.
  (gpuMayBePresent() ? it.skip : it)(
    'the doctor names the reason on this machine',
    () => {
      const r = gpuReport();
      expect(r.tfDevices).toEqual([]);
      if (r.installed) {
        expect(r.reason).toMatch(/^no driver: libcuda\.so\.1 is not loadable/);
        // libcudart is loaded from the project's NVIDIA wheel even without a driver: the RUNPATH works
        expect(r.loaded.map((l) => `${l.lib} ${l.wheel} ${l.version}`)).toContain(
          'libcudart.so.12 nvidia-cuda-runtime-cu12 12.5.82',
        );
      } else {
        expect(r.reason).toMatch(/not installed/);
      }
      expect(formatGpu(r)[0]).toMatch(/^ {2}gpu {10}none: /);
    },
    120_000,
  );
});

test('model:doctor --json carries the GPU section (and the text report its lines)', () => {
  const cli = path.join(__dirname, '..', 'src', 'cli.ts');
  const run = (json: boolean) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', cli, 'doctor', '--quick', '--backend', 'tensorflow', ...(json ? ['--json'] : [])],
      { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } },
    );
  const r = run(true);
  expect(r.status).toBe(0);
  const report = JSON.parse(r.stdout) as {
    gpu: { reason: string | null; nvidiaSmi: { error: string | null } };
  };
  if (gpuMayBePresent()) return;
  expect(report.gpu.reason).toMatch(
    /^(no driver: libcuda\.so\.1 is not loadable|@tensorflow\/tfjs-node-gpu is not installed)/,
  );
  expect(report.gpu.nvidiaSmi.error).toBe('nvidia-smi not found');
  expect(run(false).stdout).toContain(`  gpu          none: ${report.gpu.reason}`);
}, 240_000);
