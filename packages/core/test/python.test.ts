import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PYTHON_ENV_VAR, REPO_ROOT, ensureVenvPython, requireVenvPython, venvPython, venvTool } from '../src';

test('the repository root is the folder holding requirements.txt', () => {
  expect(fs.existsSync(path.join(REPO_ROOT, 'requirements.txt'))).toBe(true);
  expect(fs.existsSync(path.join(REPO_ROOT, 'scripts', 'python-venv.sh'))).toBe(true);
});

test('.venv/bin/python unless SBIR_PYTHON says otherwise; tools sit beside it', () => {
  expect(venvPython({}, '/r')).toBe('/r/.venv/bin/python');
  expect(venvPython({ [PYTHON_ENV_VAR]: '/opt/env/bin/python3' }, '/r')).toBe('/opt/env/bin/python3');
  expect(venvTool('ruff', {}, '/r')).toBe('/r/.venv/bin/ruff');
  expect(venvTool('mlflow', { [PYTHON_ENV_VAR]: '/opt/env/bin/python3' })).toBe('/opt/env/bin/mlflow');
});

test('a missing interpreter is a one-line error naming it, the fix and the override', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-py-'));
  try {
    expect(() => requireVenvPython({}, root)).toThrow(
      new RegExp(`^${root}/\\.venv/bin/python is missing: run \`npm run py:setup\``),
    );
    const other = path.join(root, 'nope', 'python');
    expect(() => requireVenvPython({ [PYTHON_ENV_VAR]: other }, root)).toThrow(/or fix SBIR_PYTHON$/);
    // With the override set ensureVenvPython installs nothing: it only checks the user's interpreter.
    expect(() => ensureVenvPython({ [PYTHON_ENV_VAR]: other }, root)).toThrow(/nope\/python is missing/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('ensureVenvPython reports a failing setup script with its exit status', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-py-'));
  try {
    fs.mkdirSync(path.join(root, 'scripts'));
    fs.writeFileSync(
      path.join(root, 'scripts', 'python-venv.sh'),
      'echo cannot reach the registry >&2; exit 3\n',
    );
    expect(() => ensureVenvPython({}, root)).toThrow(/python-venv\.sh failed \(exit 3\)/);
    fs.writeFileSync(
      path.join(root, 'scripts', 'python-venv.sh'),
      'mkdir -p .venv/bin && printf "#!/bin/sh\\n" > .venv/bin/python\n',
    );
    expect(ensureVenvPython({}, root)).toBe(path.join(root, '.venv', 'bin', 'python'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
