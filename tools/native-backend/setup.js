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
 * (tensorflow wheel with CUDA -> @tensorflow/tfjs-node-gpu; see README "GPU backend").
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
const VARIANTS = {
  cpu: { wheel: 'tensorflow-cpu', wheelPrefix: 'tensorflow_cpu', pkg: '@tensorflow/tfjs-node' },
  gpu: { wheel: 'tensorflow', wheelPrefix: 'tensorflow', pkg: '@tensorflow/tfjs-node-gpu' },
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
    else if (a === '--variant') args.variant = argv[++i];
    else fail(`unknown option ${a} (use --stage | --verify | --build, --variant cpu|gpu)`);
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
      '--no-deps',
      '--only-binary=:all:',
      '--disable-pip-version-check',
      '--platform',
      'manylinux2014_x86_64',
      '--python-version',
      '3.11',
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
  if (fs.existsSync(path.join(dest, 'COMPLETE'))) return dest;
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

function isStaged(pkgDir) {
  return (
    fs.existsSync(path.join(pkgDir, 'deps', 'lib', TFJS_LIB_MARKER)) &&
    fs.existsSync(path.join(pkgDir, 'deps', 'include', 'tensorflow', 'c', 'eager', 'c_api.h'))
  );
}

/** Puts the wheel's library and headers into <tfjs-node>/deps the way binding.gyp expects. */
function stage(variant, pkgDir) {
  if (isStaged(pkgDir)) {
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

function main() {
  if (process.env.SBIR_SKIP_NATIVE === '1') {
    log(
      'SBIR_SKIP_NATIVE=1: skipping the native TensorFlow backend (training will fall back to the slow cpu backend)',
    );
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  const variant = VARIANTS[args.variant];
  const pkgDir = packageDir(variant.pkg);
  if (!pkgDir) {
    if (args.mode === 'stage') return log(`${variant.pkg} not in ${repoRoot}/node_modules; nothing to stage`);
    fail(`${variant.pkg} is not installed in node_modules (run npm ci)`);
  }
  if (args.mode === 'stage') return stage(variant, pkgDir);

  stage(variant, pkgDir);
  if (args.mode === 'build' || !fs.existsSync(addonPath(pkgDir))) buildAddon(pkgDir);
  let p = probe(variant);
  if (!p.ok && args.mode === 'verify') {
    log(`addon failed to load (${p.error}); rebuilding it`);
    buildAddon(pkgDir);
    p = probe(variant);
  }
  if (!p.ok) fail(`${variant.pkg} does not load: ${p.error}`);
  log(`ok: tfjs backend "${p.backend}", TensorFlow ${p.tf}`);
}

main();
