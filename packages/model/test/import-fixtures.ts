/** Checkpoint fixtures for the importer tests, written by PyTorch / safetensors / h5py themselves. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { venvPython } from '@sbir/core';
import { backboneTargets } from '../src/import/importer';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const PY_DIR = path.join(__dirname, 'py');
/** The project's one Python (.venv: torch, torchvision, h5py, safetensors; `SBIR_PYTHON` overrides it). */
export const PYTHON = venvPython();
export const CLI = path.join(REPO_ROOT, 'packages', 'model', 'src', 'cli.ts');

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sbir-${tag}-`));
}

export function runPython(script: string, args: string[]): void {
  const r = spawnSync(PYTHON, [path.join(PY_DIR, script), ...args], { encoding: 'utf8' });
  if (r.error) throw new Error(`${PYTHON}: ${r.error.message} (run \`npm run py:setup\`)`);
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed:\n${r.stderr}`);
}

/** Writes targets.json for `arch` (names without `backbone.`, PyTorch and Keras shapes). */
export function writeTargets(dir: string, arch: string, block = 'none'): { name: string; shape: number[] }[] {
  const targets = backboneTargets(arch, block);
  const torchShape = (s: number[]): number[] =>
    s.length === 4 ? [s[3]!, s[2]!, s[0]!, s[1]!] : s.length === 2 ? [s[1]!, s[0]!] : s;
  fs.writeFileSync(
    path.join(dir, 'targets.json'),
    JSON.stringify(
      targets.map((t) => ({ name: t.name.slice('backbone.'.length), torchShape: torchShape(t.shape) })),
    ),
  );
  return targets;
}

/** Runs the model CLI (tsx) in a child process. */
export function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const tsx = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
  const r = spawnSync(tsx, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Files in `dir` (to check that a failed import left nothing behind). */
export function listDir(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}
