/** The exit-code convention shared by every CLI (src/cli-exit.ts): 2 usage/config/input, 1 runtime. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { DataError, EXIT, UsageError, errorLine, exitCodeFor } from '../src';
import { CLI, REPO_ROOT, rmDir, tmpDir } from './fixtures';

test('exitCodeFor: usage errors and bad input exit 2, runtime failures 1', () => {
  expect(exitCodeFor(new UsageError('--x: bad'))).toBe(EXIT.usage);
  class ConfigLike extends UsageError {}
  expect(exitCodeFor(new ConfigLike('bad.yaml: lr: ...'))).toBe(2);
  expect(exitCodeFor(new DataError('bad-option', 'option --size: ...'))).toBe(2);
  expect(exitCodeFor(new DataError('bad-file', 'shard x corrupt'))).toBe(2);
  expect(exitCodeFor(new DataError('no-space', 'no space left'))).toBe(EXIT.failure);
  expect(exitCodeFor(new DataError('io', 'EIO'))).toBe(1);
  expect(exitCodeFor(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }))).toBe(1);
  expect(exitCodeFor(new TypeError('a bug'))).toBe(1);
  expect(exitCodeFor('a string')).toBe(1);
  expect(errorLine(new Error('first\n   second'))).toBe('error: first second');
});

test('data and model CLIs: one line, exit 2 for usage and input errors', () => {
  const dir = tmpDir('cli-exit');
  try {
    const data = (...argv: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', CLI, ...argv], { cwd: REPO_ROOT, encoding: 'utf8' });
    const unknown = data('prepare', '--bogus');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^error: Unknown argument: bogus \(see --help\)\n$/);
    const noRoot = data(
      'prepare',
      '--dataset',
      'folder',
      '--root',
      path.join(dir, 'nope'),
      '--out',
      path.join(dir, 'x'),
    );
    expect(noRoot.status).toBe(2);
    expect(noRoot.stderr).toBe(`error: option --root: directory not found: ${path.join(dir, 'nope')}\n`);
    const noManifest = data('inspect', '--dir', dir);
    expect(noManifest.status).toBe(2);
    expect(noManifest.stderr).toMatch(/^error: no dataset manifest at .*manifest\.json/);

    const modelCli = path.join(REPO_ROOT, 'packages', 'model', 'src', 'cli.ts');
    const model = spawnSync(process.execPath, ['--import', 'tsx', modelCli, 'doctor', '--backend', 'nope'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(model.status).toBe(2);
    expect(model.stderr.trim().split('\n').pop()).toMatch(/^error: Invalid values:.*backend/);
    expect(model.stderr).not.toMatch(/\n\s+at /);
  } finally {
    rmDir(dir);
  }
}, 60000);
