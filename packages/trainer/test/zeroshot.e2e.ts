/**
 * Issue 19's acceptance path on the shipped experiment file: `npx nx run trainer:ablation -- --experiment
 * zeroshot --dry-run` lists the SSGN cells, and a tiny SSGN grid (command-line overrides) runs end to
 * end on the embedded emoji data with the offline default word vectors (glove-6b-50d, installed on
 * first use by scripts/word-vectors.sh), its eval.json holding both protocols' unseen-class metrics.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childEnv, CLI, readJson, REPO_ROOT, tmpDir } from './fixtures';

jest.setTimeout(600_000);

test('the zero-shot grid lists its SSGN cells in a dry run', () => {
  const res = spawnSync(
    'npx',
    ['nx', 'run', 'trainer:ablation', '--skip-nx-cache', '--', '--experiment', 'zeroshot', '--dry-run'],
    { cwd: REPO_ROOT, env: childEnv({ NX_DAEMON: 'false', NX_NO_CLOUD: 'true' }), encoding: 'utf8' },
  );
  expect({ status: res.status, tail: res.stderr.slice(-2000) }).toMatchObject({ status: 0 });
  for (const method of ['ssgn', 'ssgn-no-fusion', 'ssgn-coarse', 'ssgn-fine', 'regression'])
    expect(res.stdout).toMatch(new RegExp(`emoji\\s+${method}\\s+0\\s`));
});

test('a tiny SSGN grid trains with the default word vectors; eval.json has both protocols', () => {
  const dir = tmpDir('zeroshot');
  const runs = path.join(dir, 'runs');
  try {
    const args = [
      CLI,
      'ablation',
      ...['--experiment', 'zeroshot', '--runs-dir', runs, '--data-root', path.join(dir, 'data')],
      ...['--only', 'dataset=emoji', '--only', 'method=ssgn,regression', '--only', 'seed=0'],
      ...['--workers', '1', '--threads', '1'],
      'train.steps=8',
      'train.stepsPerEpoch=4',
      'eval.epochGallery=200',
    ];
    const res = spawnSync(process.execPath, ['--import', 'tsx', ...args], {
      cwd: REPO_ROOT,
      env: childEnv(),
      encoding: 'utf8',
    });
    const out = `${res.stdout}\n${res.stderr}`;
    expect({ status: res.status, tail: out.slice(-3000) }).toMatchObject({ status: 0 });
    expect(out).toMatch(/class vectors: 77\/77 classes/);
    const meta = readJson<{ cells: string[]; claims: unknown[] }>(
      path.join(runs, 'zeroshot', 'experiment.json'),
    );
    expect(meta.claims.length).toBeGreaterThan(0);
    const finished = meta.cells.filter((id) => fs.existsSync(path.join(runs, 'zeroshot', id, 'eval.json')));
    expect(finished).toHaveLength(2);
    for (const id of finished) {
      const cell = path.join(runs, 'zeroshot', id);
      const ev = readJson<Record<string, unknown>>(path.join(cell, 'eval.json'));
      for (const metric of ['mAP@all', 'P@100', 'mAP@200', 'P@200']) expect(typeof ev[metric]).toBe('number');
      expect(ev.protocol).toMatchObject({ name: 'sem-pcyc', metrics: ['mAP@all', 'P@100'] });
      expect((ev.protocol as { unseen: string[] }).unseen).toHaveLength(15);
      expect(ev.perClass).toHaveLength(15);
      expect(ev.classVectors).toMatchObject({ source: 'glove-6b-50d', dim: 50, missingClasses: [] });
      const neighbours = readJson<{ classes: unknown[] }>(path.join(cell, 'class-neighbours.json'));
      expect(neighbours.classes).toHaveLength(15);
    }
    const kinds = finished.map(
      (id) =>
        readJson<{ model: { kind?: string } }>(path.join(runs, 'zeroshot', id, 'config.json')).model.kind,
    );
    expect(kinds.sort()).toEqual([undefined, 'ssgn'].sort());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
