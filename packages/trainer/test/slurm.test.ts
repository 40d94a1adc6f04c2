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
import { faultEnv } from './faults';
import { MlflowClient } from '../src/mlflow/client';
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

test('--dry-run of the paper grid with executor overrides shows the request; a misspelt key is one line', async () => {
  const args = ['ablation', '--experiment', 'paper-ablation', '--executor', 'slurm', '--dry-run'];
  const r = await runCli([
    ...args,
    'executor.partition=gpu',
    'executor.gres=gpu:1',
    'executor.time=24:00:00',
  ]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('overrides: executor.partition=gpu executor.gres=gpu:1 executor.time=24:00:00');
  // the yaml's vary (TU-Berlin: more time) survives an override of the base time: two arrays
  expect(r.stdout).toMatch(
    /slurm executor: 2 Slurm job arrays: 18 task\(s\), partition gpu, 8 CPU\(s\) per task, gres gpu:1, mem 64G, time limit 24:00:00, requeue on \(signal 600s before the limit, at most 10 requeue\(s\)\); 18 task\(s\), partition gpu, .*time limit 72:00:00/,
  );
  const bad = await runCli([...args, 'executor.partiton=gpu']);
  expect(bad.code).toBe(2);
  expect(bad.stderr.trim().split('\n')).toEqual([
    expect.stringMatching(
      /^error: override executor\.partiton=gpu: unknown key "partiton" under executor \(known: name, partition,/,
    ),
  ]);
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
    const first = startCli(args, slurmEnv(faultEnv({ stepDelayMs: 300 })));
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

withCluster(
  'per-cell resources: two arrays in one submission; a failed cell fails its task (Slurm FAILED) and the run exits 1 with a summary',
  async () => {
    prepareData();
    const dir = path.join(root, 'vary');
    fs.mkdirSync(dir, { recursive: true });
    const file = writeTinyExperiment(dir, {
      name: 'vary',
      dataDir,
      grid: '  seed: [0, 1]',
      epochs: 1,
      train: 'limitRows: 64',
    });
    fs.appendFileSync(
      file,
      'executor: { name: slurm, cpusPerTask: 1, time: "10", vary: { seed: { "1": { time: "9" } } } }\n',
    );
    const runs = path.join(dir, 'runs');
    const r = await runCli(
      ['ablation', '--experiment', file, '--runs-dir', runs],
      slurmEnv(faultEnv({ nanAtStep: 2, nanCells: 'seed=1' })),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /1 cell\(s\) failed .*\n {2}[0-9a-f]{12} seed=1: non-finite loss \(NaN\) at step 2/,
    );
    const [good, bad] = cellsOf(runs, 'vary');
    const a = statusOf(good!).slurm!;
    const b = statusOf(bad!).slurm!;
    expect(statusOf(good!).state).toBe('finished');
    expect(statusOf(bad!).state).toBe('failed');
    expect(a.submission).toBe(b.submission);
    expect(a.arrayJobId).not.toBe(b.arrayJobId); // one array per distinct request
    const folder = path.join(runs, 'vary', '.slurm', a.submission);
    expect(readJson<{ jobIds: string[] }>(path.join(folder, 'job.json')).jobIds).toEqual([
      a.arrayJobId,
      b.arrayJobId,
    ]);
    const arrays = readJson<{ arrays: string[][] }>(path.join(folder, 'sbatch.json')).arrays;
    expect(arrays.map((argv) => argv.filter((x) => x.startsWith('--time=')))).toEqual([
      ['--time=10'],
      ['--time=9'],
    ]);
    expect(arrays.map((argv) => argv[argv.length - 1])).toEqual(['0', '1']);
    // Slurm's own record: the task of the failed cell FAILED (exit 1), the other COMPLETED
    const stateOf = (id: string): string =>
      /JobState=(\S+)/.exec(
        spawnSync('scontrol', ['-o', 'show', 'job', id], { env: slurmEnv(), encoding: 'utf8' }).stdout,
      )?.[1] ?? '?';
    expect([stateOf(a.jobId), stateOf(b.jobId)]).toEqual(['COMPLETED', 'FAILED']);
    expect([a.state, b.state]).toEqual(['COMPLETED', 'FAILED']);
    const st = await runCli(['status', '--experiment', file, '--runs-dir', runs], slurmEnv());
    for (const [cell, job] of [
      [good!, a],
      [bad!, b],
    ] as const)
      expect(st.stdout).toMatch(
        new RegExp(`${path.basename(cell)} .*${job.jobId} .*task-${job.jobId}\\.out`),
      );
  },
);

withCluster(
  'past executor.maxRequeues the task stops at the time limit warning: interrupted with the count, resumable; the follower exits 1',
  async () => {
    prepareData();
    const dir = path.join(root, 'maxrq');
    fs.mkdirSync(dir, { recursive: true });
    const file = writeTinyExperiment(dir, { name: 'maxrq', dataDir, grid: '  seed: [0]', epochs: 4 });
    fs.appendFileSync(
      file,
      'executor: { name: slurm, cpusPerTask: 1, time: "1", requeue: true, signalBefore: 10, maxRequeues: 0 }\n',
    );
    const runs = path.join(dir, 'runs');
    const r = await runCli(
      ['ablation', '--experiment', file, '--runs-dir', runs],
      slurmEnv(faultEnv({ stepDelayMs: 4000 })),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/1 cell\(s\) interrupted by Slurm/);
    const [cell] = cellsOf(runs, 'maxrq');
    const st = statusOf(cell!);
    expect(st).toMatchObject({ state: 'interrupted', slurm: { state: 'TIMEOUT', requeues: 0 } });
    expect(st.error).toMatch(
      /reached its time limit after 0 requeue\(s\) \(executor\.maxRequeues 0\); rerun resumes/,
    );
    expect(st.step).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(cell!, 'checkpoints', 'last', 'trainer-state.json'))).toBe(true);
    expect(fs.existsSync(path.join(cell!, 'claim.json'))).toBe(false);
  },
);

/** eval.json without what depends on the wall clock (seconds, timestamps). */
function results(cell: string): Record<string, unknown> {
  const e = readJson<Record<string, unknown>>(path.join(cell, 'eval.json'));
  return Object.fromEntries(Object.entries(e).filter(([k]) => !/seconds|time|At$/i.test(k)));
}

withCluster(
  'a 1-minute time limit and a ~3-minute cell: the task checkpoints and requeues itself until done; eval.json equals an uninterrupted run; status shows the overridden submission; the task mirrors to MLflow without the submitter',
  async () => {
    prepareData();
    const dir = path.join(root, 'requeue');
    fs.mkdirSync(dir, { recursive: true });
    const name = `requeue-${process.pid}-${Date.now()}`;
    const file = writeTinyExperiment(dir, {
      name,
      dataDir,
      grid: '  seed: [0, 1]',
      epochs: 4,
      train: 'limitRows: 160, checkpointEverySteps: 1000',
    });
    // the yaml asks for 10 minutes; the command line for 1 (and requeue on, with a 10 s warning)
    fs.appendFileSync(
      file,
      'executor: { name: slurm, cpusPerTask: 1, time: "10", requeue: true, signalBefore: 10, maxRequeues: 20 }\n',
    );
    const runs = path.join(dir, 'runs');
    const uri = process.env.SBIR_TEST_MLFLOW_URI ?? '';
    if (!uri && process.env.CI)
      throw new Error('the requeue test needs SBIR_TEST_MLFLOW_URI in CI (.ci/run sets it)');
    const submit = await runCli(
      [
        'ablation',
        '--experiment',
        file,
        '--runs-dir',
        runs,
        '--detach',
        ...(uri ? ['--tracking-uri', uri] : []),
        'grid.seed=1',
        'executor.time=1',
      ],
      slurmEnv(faultEnv({ stepDelayMs: 4000 })), // 40 steps: about 3 minutes of training
    );
    expect(submit.code).toBe(0);
    expect(submit.stdout).toMatch(/submitted Slurm job \d+: 1 task\(s\)/);
    const [cell] = cellsOf(runs, name);
    const cellId = path.basename(cell!);
    const sub = statusOf(cell!).slurm!;
    const folder = path.join(runs, name, '.slurm', sub.submission);
    const tasks = readJson<{ overrides: string[]; arrays: { settings: { time: string } }[] }>(
      path.join(folder, 'tasks.json'),
    );
    expect(tasks.overrides).toEqual(['grid.seed=1', 'executor.time=1']);
    expect(tasks.arrays[0]!.settings.time).toBe('1');
    expect(readJson<{ argv: string[] }>(path.join(folder, 'sbatch.json')).argv).toEqual(
      expect.arrayContaining(['--time=1', '--requeue', '--signal=B:USR1@10']),
    );

    // status reads the submission's record: its one cell (seed=1), not the yaml's two, with the log path
    const log = path.join(folder, `task-${sub.jobId}.out`);
    const st = await runCli(['status', '--experiment', file, '--runs-dir', runs], slurmEnv());
    expect(st.code).toBe(0);
    const rows = st.stdout.split('\n').filter((l) => /^[0-9a-f]{12} /.test(l));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(new RegExp(`^${cellId} +seed=1 .*${sub.jobId} .*${path.basename(log)}`));
    expect(st.stdout).toContain(
      `Slurm submission ${sub.submission} (job ${sub.arrayJobId}, 1 task(s); overrides: grid.seed=1 executor.time=1)`,
    );

    const done = await waitFor(
      'the cell finished through its requeues',
      () => {
        const s = statusOf(cell!);
        return s.state === 'finished' && s.slurm?.state === 'COMPLETED' ? s : null;
      },
      1_500_000,
      2000,
    );
    expect(done.slurm!.requeues).toBeGreaterThanOrEqual(1);
    expect(done.resumes.length).toBe(done.slurm!.requeues);
    const steps = metricSteps(cell!, 'step');
    expect(new Set(steps).size).toBe(steps.length);
    expect(fs.readFileSync(log, 'utf8')).toMatch(/checkpointed and requeued \(1 of at most 20\)/);
    // one owner across the requeues: the task keeps the claim until it has mirrored the finished cell
    await waitFor(
      'the task to release its claim',
      () => !fs.existsSync(path.join(cell!, 'claim.json')),
      120_000,
      500,
    );

    // the same cell uninterrupted, locally, with the same threads: the same eval.json
    const localRuns = path.join(dir, 'local');
    const ref = await runCli([
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
      'grid.seed=1',
    ]);
    expect(ref.code).toBe(0);
    expect(results(cell!)).toEqual(results(path.join(localRuns, name, cellId)));

    // MLflow: the task mirrored its own cell (nobody ran trainer:sync, the submitter had returned)
    if (uri) {
      const client = new MlflowClient(uri);
      const finishedRun = async () => {
        const exp = await client.getExperimentByName(name);
        const found = exp ? await client.searchRuns([exp.experiment_id], '') : [];
        return found.find((r) => r.info.status === 'FINISHED') ?? null;
      };
      let run = await finishedRun();
      for (let i = 0; !run && i < 60; i++) {
        await new Promise((r) => setTimeout(r, 2000)); // the task mirrors right after status.json
        run = await finishedRun();
      }
      if (!run) throw new Error(`no FINISHED run of ${cellId} in ${uri} experiment ${name}`);
      expect((run.data.tags ?? []).find((t) => t.key === 'sbir.cell_id')?.value).toBe(cellId);
      const evalJson = readJson<Record<string, number>>(path.join(cell!, 'eval.json'));
      const final = (run.data.metrics ?? []).find((m) => m.key === 'final.mAP_all');
      expect(final?.value).toBeCloseTo(evalJson['mAP@all']!, 6);
    }
  },
  1_800_000,
);
