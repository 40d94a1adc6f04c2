/**
 * The Slurm executor against a real Slurm cluster (`npm run slurm:start`: munged, slurmctld, two
 * slurmd nodes on 127.0.0.1; .ci/run starts it). Without a cluster these tests are skipped with the
 * reason on a developer machine and fail when CI is set. The no-sbatch test needs no cluster.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  REPO_ROOT,
  childEnv,
  metricSteps,
  readJson,
  runCli,
  snapshot,
  startCli,
  tmpDir,
  waitFor,
  writeTinyExperiment,
} from './fixtures';
import type { CellStatus } from '../src/run-store';

jest.setTimeout(600_000);

const SLURM_CONF = process.env.SLURM_CONF ?? path.join(REPO_ROOT, '.slurm', 'slurm.conf');

/** Why there is no cluster to test against, or null when sinfo answers. */
function noCluster(): string | null {
  if (!fs.existsSync(SLURM_CONF)) return `no ${SLURM_CONF} (start one with: npm run slurm:start)`;
  const r = spawnSync('sinfo', ['-h', '-o', '%T'], { env: { ...process.env, SLURM_CONF }, encoding: 'utf8' });
  if (r.error) return `sinfo: ${r.error.message}`;
  return r.status === 0 ? null : `sinfo: ${r.stderr.trim()} (npm run slurm:start)`;
}

const missing = noCluster();
if (missing && process.env.CI) throw new Error(`Slurm tests need a cluster in CI: ${missing}`);
if (missing) console.warn(`slurm.test.ts: cluster tests skipped: ${missing}`);
const withCluster = missing ? test.skip : test;

let root: string;
let dataDir: string;
beforeAll(() => {
  root = tmpDir('slurm');
  dataDir = path.join(root, 'data', 'emoji-tiny');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function prepareData(): void {
  if (fs.existsSync(path.join(dataDir, 'manifest.json'))) return;
  const cli = path.join(REPO_ROOT, 'packages/data/src/cli.ts');
  const args = ['prepare', '--dataset', 'emoji', '--size', '32', '--max-categories', '4', '--out', dataDir];
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
}

const slurmEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
  childEnv({ SLURM_CONF, ...extra });

/** status.json as the run store writes it (run-store.ts), with the resumes list always read. */
type Status = CellStatus & { resumes: NonNullable<CellStatus['resumes']> };

function cellsOf(runs: string, name: string): string[] {
  return readJson<{ cells: string[] }>(path.join(runs, name, 'experiment.json')).cells.map((id) =>
    path.join(runs, name, id),
  );
}
const statusOf = (cell: string): Status => readJson<Status>(path.join(cell, 'status.json'));

test('--executor slurm without Slurm on PATH: one line naming what is missing, exit 2, nothing written', async () => {
  const dir = path.join(root, 'nopath');
  fs.mkdirSync(dir, { recursive: true });
  const file = writeTinyExperiment(dir, { name: 'nopath', dataDir });
  const runs = path.join(dir, 'runs');
  const r = await runCli(
    ['ablation', '--experiment', file, '--runs-dir', runs, '--executor', 'slurm'],
    childEnv({ PATH: path.join(dir, 'empty-bin') }),
  );
  expect(r.code).toBe(2);
  expect(r.stderr.trim().split('\n')).toEqual([
    expect.stringMatching(/^error: --executor slurm: sbatch, squeue, scontrol, scancel not found on PATH/),
  ]);
  expect(fs.existsSync(runs)).toBe(false);
});

withCluster(
  'bad executor settings: one line naming the setting and Slurm’s message, exit 2, nothing marked running',
  async () => {
    prepareData();
    const dir = path.join(root, 'bad');
    fs.mkdirSync(dir, { recursive: true });
    const runs = path.join(dir, 'runs');
    for (const [setting, value, slurmSays] of [
      ['partition', 'nope', /invalid partition specified: nope/],
      ['gres', 'gpu:8', /Invalid generic resource \(gres\) specification/],
    ] as const) {
      const file = writeTinyExperiment(dir, { name: 'bad', dataDir });
      fs.appendFileSync(file, `executor: { name: slurm, ${setting}: "${value}" }\n`);
      const r = await runCli(['ablation', '--experiment', file, '--runs-dir', runs], slurmEnv());
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`executor.${setting} "${value}": sbatch: `);
      expect(lines[0]).toMatch(slurmSays);
      for (const cell of cellsOf(runs, 'bad')) {
        expect(statusOf(cell).state).toBe('queued');
        expect(statusOf(cell).slurm).toBeUndefined();
        expect(fs.existsSync(path.join(cell, 'claim.json'))).toBe(false);
      }
    }
  },
);

withCluster(
  'a 4-cell grid as one job array: scancel -> interrupted with the reason; rerun resubmits only that cell, which resumes; results equal the local executor; the report builds',
  async () => {
    prepareData();
    const dir = path.join(root, 'grid');
    fs.mkdirSync(dir, { recursive: true });
    const file = writeTinyExperiment(dir, {
      name: 'grid',
      dataDir,
      train: 'limitRows: 160, checkpointEverySteps: 4',
    });
    fs.appendFileSync(file, 'executor: { name: slurm, cpusPerTask: 1, time: "10:00" }\n');
    const runs = path.join(dir, 'runs');
    const args = ['ablation', '--experiment', file, '--runs-dir', runs];

    // first run, slowed down so that one task can be cancelled mid-training
    const first = startCli(args, slurmEnv({ SBIR_STEP_DELAY_MS: '300' }));
    const victim = await waitFor(
      'experiment.json',
      () => fs.existsSync(path.join(runs, 'grid', 'experiment.json')) && cellsOf(runs, 'grid')[0],
    );
    const ckptStep = await waitFor(
      'a checkpoint of the first cell and two steps past it',
      () => {
        const state = path.join(victim, 'checkpoints', 'last', 'trainer-state.json');
        if (!fs.existsSync(state) || !fs.existsSync(path.join(victim, 'metrics.jsonl'))) return null;
        const step = readJson<{ step: number }>(state).step;
        const logged = metricSteps(victim, 'step');
        return step > 0 && logged[logged.length - 1]! >= step + 2 ? step : null;
      },
      300_000,
    );
    const job = statusOf(victim).slurm!;
    expect(job).toMatchObject({ state: 'RUNNING', jobId: `${job.arrayJobId}_0` });
    expect(spawnSync('scancel', [job.jobId], { env: slurmEnv() }).status).toBe(0);
    const r1 = await first.done;
    expect(r1.code).toBe(1);
    expect(r1.stdout).toMatch(/1 cell\(s\) interrupted by Slurm/);

    const cells = cellsOf(runs, 'grid');
    const cut = statusOf(victim);
    expect(cut.state).toBe('interrupted');
    expect(cut.error).toMatch(new RegExp(`^Slurm task ${job.jobId} ended CANCELLED`));
    expect(cut.slurm!.state).toBe('CANCELLED');
    for (const c of cells.slice(1))
      expect(statusOf(c)).toMatchObject({ state: 'finished', slurm: { state: 'COMPLETED' } });
    // the submission is inspectable: script, argv, index -> cell map
    const sub = path.join(runs, 'grid', '.slurm', job.submission);
    expect(readJson<{ argv: string[] }>(path.join(sub, 'sbatch.json')).argv).toContain('--array=0-3');
    expect(
      readJson<{ cells: { cellId: string }[] }>(path.join(sub, 'tasks.json')).cells.map((c) => c.cellId),
    ).toEqual(cells.map((c) => path.basename(c)));
    expect(fs.readFileSync(path.join(sub, 'job.sh'), 'utf8')).toMatch(/^exec .*task\.ts/m);

    const status = await runCli(['status', '--experiment', file, '--runs-dir', runs], slurmEnv());
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      new RegExp(`${path.basename(victim)} .*interrupted .*${job.jobId} +CANCELLED`),
    );

    // rerun: only the cancelled cell is resubmitted, and it resumes from its checkpoint
    const untouched = cells.slice(1).map((c) => snapshot(c));
    const r2 = await runCli(args, slurmEnv());
    expect(r2.code).toBe(0);
    const resumed = statusOf(victim);
    expect(resumed.slurm!.submission).not.toBe(job.submission);
    const sub2 = path.join(runs, 'grid', '.slurm', resumed.slurm!.submission);
    expect(
      readJson<{ cells: { cellId: string; mode: string }[] }>(path.join(sub2, 'tasks.json')).cells,
    ).toEqual([expect.objectContaining({ cellId: path.basename(victim), mode: 'resume' })]);
    expect(resumed).toMatchObject({ state: 'finished', attempt: 2 });
    expect(resumed.resumes).toEqual([expect.objectContaining({ attempt: 2 })]);
    expect(resumed.resumes[0]!.fromStep).toBeGreaterThanOrEqual(ckptStep);
    const steps = metricSteps(victim, 'step');
    expect(new Set(steps).size).toBe(steps.length);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    expect(cells.slice(1).map((c) => snapshot(c))).toEqual(untouched);

    // the same grid with the local executor (--executor wins over the yaml): the same results
    const localRuns = path.join(dir, 'local-runs');
    const r3 = await runCli([
      'ablation',
      '--experiment',
      file,
      '--runs-dir',
      localRuns,
      '--executor',
      'local',
      '--workers',
      '1',
      '--threads',
      '1',
    ]);
    expect(r3.code).toBe(0);
    for (const c of cells) {
      const id = path.basename(c);
      const a = readJson<Record<string, number>>(path.join(c, 'eval.json'));
      const b = readJson<Record<string, number>>(path.join(localRuns, 'grid', id, 'eval.json'));
      for (const k of ['mAP@all', 'P@200', 'mAP@200'])
        expect(Math.abs(a[k]! - b[k]!)).toBeLessThanOrEqual(1e-6);
    }

    // the report reads the run store alone
    const out = path.join(dir, 'report');
    const rep = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(REPO_ROOT, 'packages/report/src/cli.ts'),
        'build',
        '--experiment',
        'grid',
        '--runs-dir',
        runs,
        '--out',
        out,
        '--no-png',
      ],
      { cwd: REPO_ROOT, encoding: 'utf8', env: childEnv() },
    );
    expect(rep.status).toBe(0);
    // the dashboard's runs table shows each cell's Slurm task and state
    const runsTable = fs.readFileSync(path.join(out, 'dashboard', 'e', 'grid', 'index.html'), 'utf8');
    expect(runsTable).toContain(`Slurm ${resumed.slurm!.jobId} COMPLETED on node`);
  },
);
