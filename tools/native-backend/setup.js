#!/usr/bin/env node
/**
 * Assembles the native TensorFlow backend for tfjs-node offline, from registry packages only.
 *
 * Why: @tensorflow/tfjs-node's own install step downloads libtensorflow from a host this
 * project cannot reach, and its failure fails `npm ci`. TensorFlow's PyPI wheel ships the same
 * C API (exported from libtensorflow_cc.so.2), so we stage that library where tfjs-node looks.
 *
 * How it fits into `npm ci`: npm unpacks every package, then runs all `preinstall` scripts, then
 * all `install` scripts. This workspace's `preinstall` (`--stage`) therefore runs before
 * tfjs-node's `install`; once `deps/lib/libtensorflow.so.2.9.1` exists, tfjs-node's install.js
 * skips its download and compiles the addon with node-gyp against the staged library. The root
 * `postinstall` (`--verify`) loads the addon, builds it itself if it is missing, and reports.
 *
 * Variants: `cpu` (default; tensorflow-cpu wheel -> @tensorflow/tfjs-node) and `gpu`
 * (tensorflow wheel with CUDA -> @tensorflow/tfjs-node-gpu; packages/model/README.md "GPU backend").
 * `--variant gpu --install` (npm run native:gpu) also installs @tensorflow/tfjs-node-gpu (npm, no
 * scripts) and NVIDIA's CUDA/cuDNN runtime wheels (pip, into <project>/.cache/cuda12), links them
 * where the TensorFlow libraries' RUNPATH looks (deps/nvidia), and writes the marker
 * .cache/native-gpu.json; from then on the root postinstall (`--verify`) redoes all of it after an
 * `npm ci` (which deletes node_modules, never .cache). Remove the marker to stop that.
 *
 * Environment: SBIR_SKIP_NATIVE=1 skips everything; SBIR_TF_CACHE overrides the cache folder
 * (default ~/.cache/sbir-lab); PYTHON overrides the python used to run pip.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const cp = require('child_process');

const TF_VERSION = '2.18.1';
// tfjs-node 4.22's install.js tests for this exact file name to decide whether to download.
const TFJS_LIB_MARKER = 'libtensorflow.so.2.9.1';
const TFJS_VERSION = '4.22.0';
const VARIANTS = {
  cpu: { wheel: 'tensorflow-cpu', wheelPrefix: 'tensorflow_cpu', pkg: '@tensorflow/tfjs-node' },
  gpu: { wheel: 'tensorflow', wheelPrefix: 'tensorflow', pkg: '@tensorflow/tfjs-node-gpu', cuda: true },
};
/**
 * The NVIDIA wheels taken from the TensorFlow wheel's `and-cuda` extra, with the libraries TensorFlow
 * loads from each. libtensorflow_cc.so.2 / libtensorflow_framework.so.2 of the tensorflow 2.18.1 wheel
 * carry RUNPATH entries `$ORIGIN/../nvidia/<dir>/lib` for exactly the first seven (readelf -d);
 * nvjitlink is what cusparse and cusolver link against (their own RUNPATH `$ORIGIN/../../nvjitlink/lib`).
 * Left out: nvcc (ptxas, for XLA), nvrtc, curand and nccl: no RUNPATH of TensorFlow's names them, so
 * it could not find them there, and tfjs runs neither XLA nor multi-GPU collectives.
 */
const CUDA_LIBS = {
  'nvidia-cuda-runtime-cu12': { dir: 'cuda_runtime', libs: ['libcudart.so.12'] },
  'nvidia-cublas-cu12': { dir: 'cublas', libs: ['libcublasLt.so.12', 'libcublas.so.12'] },
  'nvidia-cudnn-cu12': { dir: 'cudnn', libs: ['libcudnn.so.9'] },
  'nvidia-cufft-cu12': { dir: 'cufft', libs: ['libcufft.so.11'] },
  'nvidia-nvjitlink-cu12': { dir: 'nvjitlink', libs: ['libnvJitLink.so.12'] },
  'nvidia-cusparse-cu12': { dir: 'cusparse', libs: ['libcusparse.so.12'] },
  'nvidia-cusolver-cu12': { dir: 'cusolver', libs: ['libcusolver.so.11'] },
  'nvidia-cuda-cupti-cu12': { dir: 'cuda_cupti', libs: ['libcupti.so.12'] },
};

// This file runs from tools/native-backend (root postinstall) or from its packed copy in
// node_modules/@sbir/native-backend (its own preinstall); both resolve packages from the project.
const repoRoot = findProjectRoot();

function findProjectRoot() {
  const marker = `${path.sep}node_modules${path.sep}`;
  const at = __dirname.lastIndexOf(marker);
  return at >= 0 ? __dirname.slice(0, at) : path.resolve(__dirname, '..', '..');
}
const log = (msg) => process.stderr.write(`[native-backend] ${msg}\n`);
const fail = (msg) => {
  process.stderr.write(`[native-backend] error: ${msg}\n`);
  process.exit(1);
};

function parseArgs(argv) {
  const args = { mode: 'stage', variant: process.env.SBIR_TF_VARIANT || 'cpu' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--stage') args.mode = 'stage';
    else if (a === '--verify') args.mode = 'verify';
    else if (a === '--build') args.mode = 'build';
    else if (a === '--install') args.install = true;
    else if (a === '--variant') args.variant = argv[++i];
    else fail(`unknown option ${a} (use --stage | --verify | --build [--install], --variant cpu|gpu)`);
  }
  if (!VARIANTS[args.variant]) fail(`--variant: unknown variant "${args.variant}" (cpu | gpu)`);
  return args;
}

function packageDir(pkg) {
  const dir = path.join(repoRoot, 'node_modules', ...pkg.split('/'));
  return fs.existsSync(path.join(dir, 'package.json')) ? dir : null;
}

function cacheRoot() {
  return process.env.SBIR_TF_CACHE || path.join(os.homedir(), '.cache', 'sbir-lab');
}

/** Project-owned folders, outside node_modules so that `npm ci` keeps them. */
const cudaDir = () => path.join(repoRoot, '.cache', 'cuda12');
const gpuMarker = () => path.join(repoRoot, '.cache', 'native-gpu.json');

/** pip options shared by the download and the install of a wheel: that exact wheel, no dependencies,
 *  for the manylinux x86_64 / Python 3.11 tag whatever python runs pip (the wheels are py3-none). */
const WHEEL_ONLY_ARGS = [
  '--no-deps',
  '--only-binary=:all:',
  '--disable-pip-version-check',
  '--platform',
  'manylinux2014_x86_64',
  '--python-version',
  '3.11',
];

function python() {
  return process.env.PYTHON || 'python3';
}

function run(cmd, args, opts = {}) {
  const r = cp.spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${r.status}`);
}

/** Finds the wheel in the cache, or downloads it from PyPI with pip. */
function ensureWheel(variant) {
  const dir = path.join(cacheRoot(), 'wheels');
  fs.mkdirSync(dir, { recursive: true });
  const prefix = `${variant.wheelPrefix}-${TF_VERSION}-`;
  const find = () => fs.readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith('.whl'));
  let wheel = find();
  if (!wheel) {
    log(`downloading ${variant.wheel}==${TF_VERSION} from PyPI (about 230 MB, cached in ${dir})`);
    run(python(), [
      '-m',
      'pip',
      'download',
      ...WHEEL_ONLY_ARGS,
      `${variant.wheel}==${TF_VERSION}`,
      '-d',
      dir,
    ]);
    wheel = find();
    if (!wheel) fail(`pip finished but no ${prefix}*.whl is in ${dir}`);
  }
  return path.join(dir, wheel);
}

/** Extracts libraries and the C API header closure once per wheel into the cache (atomically). */
function ensureExtracted(variant, pkgDir) {
  const dest = path.join(cacheRoot(), `${variant.wheel}-${TF_VERSION}`);
  const complete = (f) => fs.existsSync(path.join(dest, f));
  // extractions made before cuda-requirements.json existed are redone only for the GPU variant
  if (complete('COMPLETE') && (!variant.cuda || complete('cuda-requirements.json'))) return dest;
  const wheel = ensureWheel(variant);
  const tmp = `${dest}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  log(`extracting ${path.basename(wheel)}`);
  run(python(), [path.join(__dirname, 'extract_wheel.py'), wheel, tmp, path.join(pkgDir, 'binding')]);
  fs.writeFileSync(path.join(tmp, 'COMPLETE'), `${path.basename(wheel)}\n`);
  fs.rmSync(dest, { recursive: true, force: true });
  fs.renameSync(tmp, dest);
  return dest;
}

function linkOrCopy(src, dst) {
  fs.rmSync(dst, { force: true });
  try {
    fs.linkSync(src, dst); // same filesystem: no second copy of a 630 MB library
  } catch {
    fs.copyFileSync(src, dst);
  }
}

function symlink(target, at) {
  fs.rmSync(at, { force: true });
  fs.symlinkSync(target, at);
}

function isStaged(variant, pkgDir) {
  return (
    fs.existsSync(path.join(pkgDir, 'deps', 'lib', TFJS_LIB_MARKER)) &&
    fs.existsSync(path.join(pkgDir, 'deps', 'include', 'tensorflow', 'c', 'eager', 'c_api.h')) &&
    (!variant.cuda || fs.existsSync(path.join(pkgDir, 'deps', 'nvidia', 'cuda_runtime', 'lib')))
  );
}

/** `name==version` of each CUDA wheel taken, from the TensorFlow wheel's metadata (extract_wheel.py). */
function cudaRequirements(extracted) {
  const extra = JSON.parse(fs.readFileSync(path.join(extracted, 'cuda-requirements.json'), 'utf8'));
  return Object.keys(CUDA_LIBS).map((name) => {
    if (!extra[name]) fail(`${extracted}: the wheel's and-cuda extra has no ${name}`);
    return `${name}==${extra[name]}`;
  });
}

/** pip-installs the CUDA/cuDNN runtime wheels into .cache/cuda12 (atomically; a stamp makes it idempotent). */
function ensureCudaWheels(reqs) {
  const dest = cudaDir();
  const stamp = path.join(dest, '.sbir-requirements');
  const want = `${reqs.join(' ')}\n`;
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return dest;
  const tmp = `${dest}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  log(`installing NVIDIA runtime wheels from PyPI into ${path.relative(repoRoot, dest)}: ${reqs.join(' ')}`);
  const t0 = Date.now();
  // --platform/--python-version: the wheels are py3-none-manylinux2014_x86_64 whatever python runs pip
  run(python(), ['-m', 'pip', 'install', ...WHEEL_ONLY_ARGS, '--target', tmp, ...reqs]);
  fs.writeFileSync(path.join(tmp, '.sbir-requirements'), want);
  fs.rmSync(dest, { recursive: true, force: true });
  fs.renameSync(tmp, dest);
  log(`NVIDIA wheels installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return dest;
}

/**
 * Loads every CUDA library TensorFlow looks for from where its RUNPATH points (deps/lib/../nvidia),
 * with python's ctypes (dlopen, so their own dependencies resolve too). No driver is needed for this:
 * libcuda.so.1 is only opened by TensorFlow at device discovery.
 */
function checkCudaLibs(pkgDir) {
  const files = Object.values(CUDA_LIBS).flatMap(({ dir, libs }) =>
    libs.map((l) => path.join(pkgDir, 'deps', 'lib', '..', 'nvidia', dir, 'lib', l)),
  );
  const code = 'import ctypes, sys\nfor f in sys.argv[1:]:\n    ctypes.CDLL(f)';
  const r = cp.spawnSync(python(), ['-c', code, ...files], { encoding: 'utf8' });
  if (r.status !== 0)
    fail(`CUDA runtime libraries do not load: ${(r.stderr || '').trim().split('\n').pop()}`);
  log(`CUDA runtime libraries load from deps/nvidia (${files.length} checked)`);
}

/** Puts the wheel's library and headers into <tfjs-node>/deps the way binding.gyp expects. */
function stage(variant, pkgDir) {
  if (isStaged(variant, pkgDir)) {
    log(`${variant.pkg}: TensorFlow ${TF_VERSION} already staged`);
    return;
  }
  const src = ensureExtracted(variant, pkgDir);
  const deps = path.join(pkgDir, 'deps');
  const tmp = path.join(pkgDir, `deps.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'lib'), { recursive: true });
  fs.cpSync(path.join(src, 'include'), path.join(tmp, 'include'), { recursive: true });
  for (const lib of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
    linkOrCopy(path.join(src, 'lib', lib), path.join(tmp, 'lib', lib));
  }
  // binding.gyp links -ltensorflow -ltensorflow_framework; the C API lives in libtensorflow_cc.
  symlink('libtensorflow_cc.so.2', path.join(tmp, 'lib', 'libtensorflow.so'));
  symlink('libtensorflow_framework.so.2', path.join(tmp, 'lib', 'libtensorflow_framework.so'));
  symlink('libtensorflow_cc.so.2', path.join(tmp, 'lib', TFJS_LIB_MARKER));
  if (variant.cuda) {
    // The TF libraries' RUNPATH has $ORIGIN/../nvidia/<dir>/lib; $ORIGIN is deps/lib.
    const cuda = ensureCudaWheels(cudaRequirements(src));
    fs.symlinkSync(path.relative(tmp, path.join(cuda, 'nvidia')), path.join(tmp, 'nvidia'));
  }
  fs.rmSync(deps, { recursive: true, force: true });
  fs.renameSync(tmp, deps);
  log(`${variant.pkg}: staged TensorFlow ${TF_VERSION} C library into ${path.relative(repoRoot, deps)}`);
}

function addonPath(pkgDir) {
  return path.join(
    pkgDir,
    'lib',
    `napi-v${process.versions.napi >= 8 ? 8 : process.versions.napi}`,
    'tfjs_binding.node',
  );
}

/** Compiles the addon with the node-gyp that ships inside npm (node headers from npm's nodedir). */
function buildAddon(pkgDir) {
  const npmGyp =
    process.env.npm_config_node_gyp ||
    path.join(
      path.dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    );
  if (!fs.existsSync(npmGyp)) fail(`node-gyp not found at ${npmGyp}`);
  const modulePath = path.dirname(addonPath(pkgDir));
  log(`compiling tfjs_binding.node with ${npmGyp}`);
  const extra =
    fs.existsSync('/usr/include/node') && !process.env.npm_config_nodedir ? ['--nodedir=/usr'] : [];
  run(
    process.execPath,
    [
      npmGyp,
      'rebuild',
      ...extra,
      '--napi_build_version=8',
      '--module_name=tfjs_binding',
      `--module_path=${modulePath}`,
    ],
    { cwd: pkgDir },
  );
}

/** Loads the backend in a child process (a failed dlopen must not take this process down). */
function probe(variant) {
  const code = `
    const tf = require(${JSON.stringify(variant.pkg)});
    process.stdout.write(JSON.stringify({ backend: tf.getBackend(), tf: tf.backend().binding.TF_Version }));`;
  const r = cp.spawnSync(process.execPath, ['-e', code], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  if (r.status !== 0) return { ok: false, error: (r.stderr || '').trim().split('\n').slice(-3).join(' | ') };
  try {
    return { ok: true, ...JSON.parse(r.stdout) };
  } catch {
    return { ok: false, error: r.stdout };
  }
}

/** npm-installs the JS part of tfjs-node-gpu without saving it or running scripts (its install.js downloads). */
function installGpuPackage() {
  const npm = process.env.npm_execpath;
  const [cmd, pre] = npm && npm.endsWith('.js') ? [process.execPath, [npm]] : ['npm', []];
  log(`installing ${VARIANTS.gpu.pkg}@${TFJS_VERSION} (npm, --no-save --ignore-scripts)`);
  run(
    cmd,
    [
      ...pre,
      'install',
      '--no-save',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      `${VARIANTS.gpu.pkg}@${TFJS_VERSION}`,
    ],
    {
      cwd: repoRoot,
    },
  );
}

/** Stages, builds when needed, and loads one variant; exits on failure. */
function setUp(variant, mode) {
  const pkgDir = packageDir(variant.pkg);
  if (!pkgDir)
    fail(
      `${variant.pkg} is not installed in node_modules (run npm ci${variant.cuda ? ', then npm run native:gpu' : ''})`,
    );
  stage(variant, pkgDir);
  if (variant.cuda) checkCudaLibs(pkgDir);
  if (mode === 'build' || !fs.existsSync(addonPath(pkgDir))) buildAddon(pkgDir);
  let p = probe(variant);
  if (!p.ok && mode === 'verify') {
    log(`addon failed to load (${p.error}); rebuilding it`);
    buildAddon(pkgDir);
    p = probe(variant);
  }
  if (!p.ok) fail(`${variant.pkg} does not load: ${p.error}`);
  log(`ok: ${variant.pkg}, tfjs backend "${p.backend}", TensorFlow ${p.tf}`);
}

function main() {
  if (process.env.SBIR_SKIP_NATIVE === '1') {
    log(
      'SBIR_SKIP_NATIVE=1: skipping the native TensorFlow backend (training will fall back to the slow cpu backend)',
    );
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  const variant = VARIANTS[args.variant];
  if (args.mode === 'stage') {
    const pkgDir = packageDir(variant.pkg);
    if (!pkgDir) return log(`${variant.pkg} not in ${repoRoot}/node_modules; nothing to stage`);
    return stage(variant, pkgDir);
  }
  if (args.install && variant.cuda) {
    const t0 = Date.now();
    if (!packageDir(variant.pkg)) installGpuPackage();
    setUp(variant, args.mode);
    fs.mkdirSync(path.dirname(gpuMarker()), { recursive: true });
    fs.writeFileSync(
      gpuMarker(),
      `${JSON.stringify({ variant: 'gpu', package: `${variant.pkg}@${TFJS_VERSION}`, tensorflow: TF_VERSION, installedAt: new Date().toISOString() }, null, 2)}\n`,
    );
    return log(
      `GPU variant ready in ${((Date.now() - t0) / 1000).toFixed(0)} s; npm ci redoes it while ${path.relative(repoRoot, gpuMarker())} exists`,
    );
  }
  setUp(variant, args.mode);
  // After `npm ci` (the root postinstall): bring the GPU variant back if this checkout asked for it.
  if (args.mode === 'verify' && args.variant === 'cpu' && fs.existsSync(gpuMarker())) {
    log(`${path.relative(repoRoot, gpuMarker())} exists: restoring the GPU variant`);
    if (!packageDir(VARIANTS.gpu.pkg)) installGpuPackage();
    setUp(VARIANTS.gpu, 'verify');
  }
}

main();
