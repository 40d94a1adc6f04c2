/**
 * The data CLI under @sbir/core's exit-code convention (2 usage/config/input, 1 runtime): DataError
 * picks its code by whose fault it is; input errors name the option or file in one line. The
 * unknown-option case of every CLI is packages/core/test/every-cli.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { EXIT, exitCodeFor } from '@sbir/core';
import { DataError } from '../src';
import { CLI, REPO_ROOT, rmDir, tmpDir } from './fixtures';

test('DataError: bad input exits 2, a full disk or an I/O failure 1', () => {
  expect(exitCodeFor(new DataError('bad-option', 'option --size: ...'))).toBe(EXIT.usage);
  expect(exitCodeFor(new DataError('bad-file', 'shard x corrupt'))).toBe(2);
  expect(exitCodeFor(new DataError('no-space', 'no space left'))).toBe(EXIT.failure);
  expect(exitCodeFor(new DataError('io', 'EIO'))).toBe(1);
});

test('data CLI: input errors are one line naming the option or file, exit 2', () => {
  const dir = tmpDir('cli-exit');
  try {
    const data = (...argv: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', CLI, ...argv], { cwd: REPO_ROOT, encoding: 'utf8' });
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
    const badSplit = data('prepare', '--split', 'random', '--out', path.join(dir, 'y'));
    expect(badSplit.status).toBe(2);
    expect(badSplit.stderr).toMatch(
      /^error: Invalid values: Argument: split, Given: "random", Choices: "category", "zeroshot" \(see --help\)\n$/,
    );
  } finally {
    rmDir(dir);
  }
}, 60000);
