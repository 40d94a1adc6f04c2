/**
 * The real `npx nx run trainer:ablation` target end to end on a one-cell grid (4-class 32 px emoji,
 * resnet-tiny of width 8, one epoch): it trains and then builds the report in the same program, from
 * a folder name with shell metacharacters in it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers/fixtures';

jest.setTimeout(600_000);

const ROOT = path.resolve(__dirname, '..', '..', '..');

it('trains the grid, then builds reports/<experiment>, from one Nx target', () => {
  const dir = path.join(tmpDir('sbir-target-e2e-'), "a dir $(touch INJECTED) 'q'");
  fs.mkdirSync(dir);
  const yaml = path.join(dir, 'tiny.yaml');
  fs.writeFileSync(
    yaml,
    `name: tiny
description: one-cell grid for the trainer:ablation target
base:
  dataset:
    name: emoji
    dir: ${JSON.stringify(path.join(dir, 'data', 'emoji-tiny'))}
    prepare: { dataset: emoji, size: 32, maxCategories: 4 }
  model: { backbone: resnet-tiny, block: se, width: 8, inputSize: 32, embeddingDim: 16 }
  loss: softmax
  train: { epochs: 1, batchSize: 16, lr: 0.001, logEverySteps: 2 }
  eval: { retrievalQueries: 2, retrievalTopK: 3, embeddingsSample: 40, statsSample: 200 }
grid:
  block: [se]
`,
  );
  const runs = path.join(dir, 'runs');
  const out = path.join(dir, 'out');
  const args = [
    '--experiment',
    yaml,
    '--runs-dir',
    runs,
    '--out',
    out,
    '--workers',
    '1',
    '--tracking-uri',
    '',
  ];
  const r = spawnSync(
    path.join(ROOT, 'node_modules', '.bin', 'nx'),
    ['run', 'trainer:ablation', '--', ...args],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', CI: '1' },
    },
  );
  expect({ status: r.status, tail: r.stdout.slice(-1500) + r.stderr.slice(-1500) }).toMatchObject({
    status: 0,
  });
  const cells = fs.readdirSync(path.join(runs, 'tiny')).filter((d) => /^[0-9a-f]{12}$/.test(d));
  expect(cells).toHaveLength(1);
  const status = JSON.parse(fs.readFileSync(path.join(runs, 'tiny', cells[0], 'status.json'), 'utf8'));
  expect(status.state).toBe('finished');
  expect(r.stdout).toMatch(/\[report\] wrote \d+ files to /);
  const report = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
  expect(report).toContain('# tiny: report');
  expect(report).toContain('1 cells, 1 finished');
  expect(fs.existsSync(path.join(out, 'dashboard', 'e', 'tiny', 'r', `${cells[0]}.html`))).toBe(true);
  expect(fs.existsSync(path.join(ROOT, 'INJECTED'))).toBe(false);
  expect(fs.existsSync(path.join(dir, 'INJECTED'))).toBe(false);
});
