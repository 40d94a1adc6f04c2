/**
 * The project's one Python interpreter, resolved here for every test, bench and tool on the Node side:
 * `.venv/bin/python`, made from requirements.txt by scripts/python-venv.sh (PyTorch 2.x, pyarrow,
 * numpy, mlflow, …). `SBIR_PYTHON` points elsewhere (another venv holding the same requirements).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The environment variable that overrides the interpreter. */
export const PYTHON_ENV_VAR = 'SBIR_PYTHON';

/** The repository root (packages/core/src, or packages/core/dist, -> ../../..). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** `$SBIR_PYTHON` when set, else `<root>/.venv/bin/python`; no check that it exists (see requireVenvPython). */
export function venvPython(env: NodeJS.ProcessEnv = process.env, root = REPO_ROOT): string {
  const override = env[PYTHON_ENV_VAR];
  return override ? path.resolve(override) : path.join(root, '.venv', 'bin', 'python');
}

/** A console script installed beside the interpreter (`mlflow`, `ruff`), in the same bin folder. */
export function venvTool(name: string, env: NodeJS.ProcessEnv = process.env, root = REPO_ROOT): string {
  return path.join(path.dirname(venvPython(env, root)), name);
}

/** The interpreter, or a one-line error naming it and the command that creates it. */
export function requireVenvPython(env: NodeJS.ProcessEnv = process.env, root = REPO_ROOT): string {
  const python = venvPython(env, root);
  if (!fs.existsSync(python))
    throw new Error(
      `${python} is missing: run \`npm run py:setup\` (scripts/python-venv.sh)` +
        (env[PYTHON_ENV_VAR] ? ` or fix ${PYTHON_ENV_VAR}` : ''),
    );
  return python;
}

/**
 * Creates or updates .venv through scripts/python-venv.sh (idempotent: a no-op when requirements.txt's
 * digest matches its stamp) and returns the interpreter; benches call it so a fresh clone installs
 * its peers. With SBIR_PYTHON set the venv is the user's and nothing is installed.
 */
export function ensureVenvPython(env: NodeJS.ProcessEnv = process.env, root = REPO_ROOT): string {
  if (!env[PYTHON_ENV_VAR]) {
    const script = path.join(root, 'scripts', 'python-venv.sh');
    const r = spawnSync('bash', [script], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status ?? r.signal})`);
  }
  return requireVenvPython(env, root);
}
