/**
 * The project's main command through Nx, as a user types it: `npx nx run trainer:ablation -- ...`
 * runs the grid and then the report step (`runBuild` from @sbir/report, as `report:generate`) on the
 * same experiment.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childEnv, readJson, REPO_ROOT, tmpDir, writeTinyExperiment } from './fixtures';

jest.setTimeout(300_000);

test('npx nx run trainer:ablation trains the grid, then builds the report for it', () => {
  const dir = tmpDir('e2e');
  const name = `e2e-${process.pid}`;
  const file = writeTinyExperiment(dir, { name, grid: '  block: [se, dase]', epochs: 1 });
  const runs = path.join(dir, 'runs');
  const reportDir = path.join(REPO_ROOT, 'reports', name);
  try {
    const res = spawnSync(
      'npx',
      ['nx', 'run', 'trainer:ablation', '--skip-nx-cache', '--', '--experiment', file, '--runs-dir', runs],
      {
        cwd: REPO_ROOT,
        env: childEnv({ NX_DAEMON: 'false', NX_NO_CLOUD: 'true' }),
        encoding: 'utf8',
      },
    );
    const out = `${res.stdout}\n${res.stderr}`;
    expect({ status: res.status, tail: out.slice(-3000) }).toMatchObject({ status: 0 });
    const meta = readJson<{ cells: string[] }>(path.join(runs, name, 'experiment.json'));
    expect(meta.cells).toHaveLength(2);
    for (const id of meta.cells) {
      expect(readJson<{ state: string }>(path.join(runs, name, id, 'status.json')).state).toBe('finished');
      expect(fs.existsSync(path.join(runs, name, id, 'eval.json'))).toBe(true);
    }
    expect(out).toMatch(/mAP@all\s+P@200/);
    expect(fs.existsSync(reportDir)).toBe(true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(reportDir, { recursive: true, force: true });
  }
});
