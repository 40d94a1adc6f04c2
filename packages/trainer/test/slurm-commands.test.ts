/**
 * The pure parts of the Slurm executor: the sbatch argv, rejections mapped to the executor setting,
 * squeue/scontrol parsing, the job script's quoting, and the yaml `executor:` block.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expandExperiment } from '../src/grid';
import { ConfigError } from '../src/messages';
import { ExecutorSchema } from '../src/schema';
import {
  grantedGpu,
  parseJobId,
  parseScontrol,
  parseSqueue,
  requestsGpu,
  sbatchArgv,
  sbatchFailure,
  SlurmError,
} from '../src/slurm/commands';
import { cellSettings, groupBySettings, taskBackend } from '../src/slurm/executor';
import type { PlannedCell } from '../src/executor';
import { jobScript, shellQuote } from '../src/slurm/submission';

const settings = (extra: Record<string, unknown> = {}) => ExecutorSchema.parse({ name: 'slurm', ...extra });

test('sbatch argv: one element per option, held array with its throttle, the script last', () => {
  const argv = sbatchArgv(
    settings({
      partition: 'gpu',
      time: '2-00:00:00',
      cpusPerTask: 8,
      mem: '32G',
      gres: 'gpu:1',
      arrayParallelism: 3,
      sbatchArgs: ['--constraint=a100'],
    }),
    {
      jobName: 'sbir-x',
      tasks: 8,
      outputPattern: '/r/task-%a.out',
      chdir: '/r',
      script: '/r/job.sh',
      requeue: true,
    },
  );
  expect(argv).toEqual([
    '--parsable',
    '--hold',
    '--job-name=sbir-x',
    '--array=0-7%3',
    '--output=/r/task-%a.out',
    '--open-mode=append',
    '--chdir=/r',
    '--export=ALL',
    '--requeue',
    '--signal=B:USR1@120', // the checkpoint-and-requeue warning before the time limit
    '--ntasks=1',
    '--partition=gpu',
    '--time=2-00:00:00',
    '--cpus-per-task=8',
    '--mem=32G',
    '--gres=gpu:1',
    '--constraint=a100',
    '/r/job.sh',
  ]);
});

test("sbatch rejections name the executor setting and keep Slurm's message", () => {
  const s = settings({ partition: 'nope' });
  const e = sbatchFailure(
    'sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n',
    s,
    'x.yaml',
  );
  expect(e).toBeInstanceOf(ConfigError);
  expect(e.message).toBe(
    'x.yaml: executor.partition "nope": sbatch: invalid partition specified: nope; Batch job submission failed: Invalid partition name specified',
  );
  expect(
    sbatchFailure(
      'sbatch: error: Invalid generic resource (gres) specification',
      settings({ gres: 'gpu:9' }),
      'x.yaml',
    ).message,
  ).toMatch(/^x\.yaml: executor\.gres "gpu:9": sbatch: Invalid generic resource/);
  const down = sbatchFailure(
    'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)',
    s,
    'x.yaml',
  );
  expect(down).toBeInstanceOf(SlurmError);
});

test('squeue, scontrol and --parsable answers', () => {
  const q = parseSqueue('12_0|RUNNING|None|node1\n12_1|PENDING|JobArrayTaskLimit|\n');
  expect(q.get('12_0')).toEqual({ id: '12_0', state: 'RUNNING', reason: null, node: 'node1' });
  expect(q.get('12_1')).toEqual({ id: '12_1', state: 'PENDING', reason: 'JobArrayTaskLimit', node: null });
  const f = parseScontrol(
    'JobId=13 ArrayJobId=12 ArrayTaskId=1 JobState=TIMEOUT Reason=TimeLimit NodeList=node2\n',
  );
  expect(f).toMatchObject({ JobState: 'TIMEOUT', Reason: 'TimeLimit', NodeList: 'node2' });
  expect(parseJobId('42\n')).toBe('42');
  expect(parseJobId('42;cluster\n')).toBe('42');
  expect(parseJobId('Submitted batch job 42')).toBeNull();
});

test('a GPU request selects tensorflow-gpu unless --backend says otherwise', () => {
  expect(taskBackend('auto', settings({ gres: 'gpu:1' }))).toBe('tensorflow-gpu');
  expect(taskBackend('auto', settings({ gres: 'gpu:a100:2' }))).toBe('tensorflow-gpu');
  expect(taskBackend('tensorflow', settings({ gres: 'gpu:1' }))).toBe('tensorflow');
  expect(taskBackend('auto', settings())).toBe('auto');
});

test('the job script quotes every path: a hostile runs dir stays one word', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-jobsh-'));
  const tasks = path.join(dir, `r'$(touch INJECTED)'`, 'tasks.json');
  const script = jobScript({
    experiment: 'x',
    submission: 's',
    setup: [],
    node: '/bin/echo',
    tasksFile: tasks,
    gitSha: null,
  });
  expect(script).toContain(shellQuote(tasks));
  // run it: echo prints its arguments, nothing else runs
  const r = spawnSync('bash', ['-c', script.replace(/^cd .*$/m, `cd ${shellQuote(dir)}`)], {
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  expect(r.stdout.trim().endsWith(` ${tasks} 0`)).toBe(true); // array number 0 when sbatch passes none
  expect(fs.existsSync(path.join(dir, 'INJECTED'))).toBe(false);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the yaml executor block: validated with its path, not part of configSha256 or cell ids', () => {
  const doc = {
    name: 'e',
    base: {
      dataset: { name: 'emoji', dir: 'd' },
      model: { backbone: 'resnet-tiny', block: 'se', inputSize: 32, embeddingDim: 8 },
      loss: 'softmax',
      train: { epochs: 1, batchSize: 4, lr: 0.001 },
    },
  };
  const plain = expandExperiment(doc, 'e.yaml');
  const slurm = expandExperiment({ ...doc, executor: { name: 'slurm', partition: 'gpu' } }, 'e.yaml');
  expect(slurm.executor).toMatchObject({ name: 'slurm', partition: 'gpu', setup: [], sbatchArgs: [] });
  expect(slurm.configSha256).toBe(plain.configSha256);
  expect(slurm.cells.map((c) => c.cellId)).toEqual(plain.cells.map((c) => c.cellId));
  expect(() => expandExperiment({ ...doc, executor: { name: 'slurm', partitoin: 'gpu' } }, 'e.yaml')).toThrow(
    /^e\.yaml: executor\.partitoin: unknown key "partitoin" \(known: name, partition,/,
  );
  expect(() => expandExperiment({ ...doc, executor: { time: 'soon' } }, 'e.yaml')).toThrow(
    /executor\.time: expected a Slurm time limit/,
  );
  expect(() => expandExperiment({ ...doc, executor: { sbatchArgs: ['job.sh'] } }, 'e.yaml')).toThrow(
    /executor\.sbatchArgs\[0\]: expected an sbatch option/,
  );
});

test('requeue on: --requeue and a signal before the time limit to the batch shell; the script gets its array number', () => {
  const argv = sbatchArgv(settings({ time: '1:00', requeue: true, signalBefore: 20 }), {
    jobName: 'j',
    tasks: 2,
    outputPattern: '/r/task-%A_%a.out',
    chdir: '/r',
    script: '/r/job.sh',
    scriptArgs: ['1'],
    requeue: true,
  });
  expect(argv).toEqual(expect.arrayContaining(['--requeue', '--signal=B:USR1@20', '--time=1:00']));
  expect(argv.slice(-2)).toEqual(['/r/job.sh', '1']);
  const off = sbatchArgv(settings(), {
    jobName: 'j',
    tasks: 1,
    outputPattern: 'o',
    chdir: '/r',
    script: 's',
    requeue: false,
  });
  expect(off).toContain('--no-requeue');
  expect(off.some((a) => a.startsWith('--signal'))).toBe(false);
  expect(settings()).toMatchObject({ requeue: false, signalBefore: 120, maxRequeues: 3, vary: {} });
});

test('a GPU asked for in any sbatch spelling selects tensorflow-gpu; a task granted one sees it in its environment', () => {
  for (const sbatchArgs of [
    ['--gpus=1'],
    ['--gpus', '1'],
    ['-G', '1'],
    ['-G1'],
    ['--gres', 'gpu:1'],
    ['--gpus-per-task=1'],
  ])
    expect([sbatchArgs, taskBackend('auto', settings({ sbatchArgs }))]).toEqual([
      sbatchArgs,
      'tensorflow-gpu',
    ]);
  for (const sbatchArgs of [['--gpus=0'], ['--constraint=a100'], ['--gres=licence:1']])
    expect([sbatchArgs, requestsGpu(settings({ sbatchArgs }))]).toEqual([sbatchArgs, false]);
  expect(grantedGpu({ SLURM_GPUS_ON_NODE: '1' })).toBe(true);
  expect(grantedGpu({ SLURM_JOB_GPUS: '0' })).toBe(true);
  expect(grantedGpu({ CUDA_VISIBLE_DEVICES: '0,1' })).toBe(true);
  for (const env of [
    {},
    { CUDA_VISIBLE_DEVICES: '' },
    { CUDA_VISIBLE_DEVICES: 'NoDevFiles' },
    { SLURM_GPUS_ON_NODE: '0' },
  ])
    expect(grantedGpu(env)).toBe(false);
});

test('sbatchArgs: --name=value, --flag, "--name value", -X value; options the executor sets are refused', () => {
  expect(
    settings({ sbatchArgs: ['--gpus', '2', '--exclusive', '-C', 'a100', '--mail-type=END'] }).sbatchArgs,
  ).toHaveLength(6);
  expect(() => settings({ sbatchArgs: ['--array=0-9'] })).toThrow(/--array is set by the executor itself/);
  expect(() => settings({ sbatchArgs: ['--signal=USR1@60'] })).toThrow(
    /--signal is set by the executor itself/,
  );
  expect(() => settings({ sbatchArgs: ['--gpus=1', 'job.sh'] })).toThrow(/expected an sbatch option/);
});

describe('executor overrides and per-cell resources', () => {
  const doc = {
    name: 'e',
    base: {
      dataset: { name: 'emoji', dir: 'd' },
      model: { backbone: 'resnet-tiny', block: 'se', inputSize: 32, embeddingDim: 8 },
      loss: 'softmax',
      train: { epochs: 1, batchSize: 4, lr: 0.001 },
    },
    grid: { seed: [0, 1], lr: [0.001, 0.01] },
    executor: { name: 'slurm', time: '1:00:00' },
  };
  const expand = (overrides: string[], d: Record<string, unknown> = doc) =>
    expandExperiment(d, 'e.yaml', { overrides });
  const errorOf = (overrides: string[], d?: Record<string, unknown>): string => {
    try {
      expand(overrides, d);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error('expected an error');
  };

  test('executor.<key>=value sets the request (colons need no quotes); recorded, but not in cell configs or digests', () => {
    const plain = expand([]);
    const e = expand([
      'executor.partition=gpu',
      'executor.gres=gpu:1',
      'executor.time=48:00:00',
      'executor.mem=90',
    ]);
    expect(e.executor).toMatchObject({
      name: 'slurm',
      partition: 'gpu',
      gres: 'gpu:1',
      time: '48:00:00',
      mem: '90',
    });
    expect(e.overrides).toEqual([
      'executor.partition=gpu',
      'executor.gres=gpu:1',
      'executor.time=48:00:00',
      'executor.mem=90',
    ]);
    expect(e.configSha256).toBe(plain.configSha256);
    expect(e.cells.map((c) => [c.cellId, c.overrides])).toEqual(plain.cells.map((c) => [c.cellId, []]));
    expect(expand(['executor.requeue=true', 'executor.maxRequeues=5']).executor).toMatchObject({
      requeue: true,
      maxRequeues: 5,
    });
    expect(expand(['~executor.time']).executor?.time).toBeUndefined();
    expect(expand(['executor.sbatchArgs=[--gpus, 1]']).executor?.sbatchArgs).toEqual(['--gpus', '1']);
  });

  test('a misspelt or invalid executor setting is one line naming the override', () => {
    expect(errorOf(['executor.partiton=gpu'])).toMatch(
      /^override executor\.partiton=gpu: unknown key "partiton" under executor \(known: name, partition, time,/,
    );
    expect(errorOf(['executor.time=soon'])).toBe(
      'override executor.time=soon: executor.time: expected a Slurm time limit such as 90, 1:30:00 or 2-00:00:00 (got "soon")',
    );
    expect(errorOf(['executor.cpusPerTask=0'])).toMatch(
      /^override executor\.cpusPerTask=0: executor\.cpusPerTask: /,
    );
    expect(errorOf(['executor.partition=a,b'])).toMatch(
      /^override executor\.partition=a,b: executor settings take one value/,
    );
    expect(errorOf(['executor.vary.seed.0.tim=1'])).toMatch(
      /unknown key "tim" under executor\.vary\.seed\.0/,
    );
    expect(errorOf(['+executor.time=1'])).toMatch(/executor\.time is already set/);
  });

  test('vary: the cells of an axis value get their own settings, and one array per distinct request', () => {
    const e = expand(['executor.vary.seed.1.gres=gpu:2'], {
      ...doc,
      executor: {
        name: 'slurm',
        time: '1:00:00',
        gres: 'gpu:1',
        vary: { lr: { '0.01': { time: '2:00:00' } } },
      },
    });
    const s = e.executor!;
    const per = e.cells.map((c) => [
      c.axes.seed,
      c.axes.lr,
      cellSettings(s, c.axes).time,
      cellSettings(s, c.axes).gres,
    ]);
    expect(per).toEqual([
      [0, 0.001, '1:00:00', 'gpu:1'],
      [0, 0.01, '2:00:00', 'gpu:1'],
      [1, 0.001, '1:00:00', 'gpu:2'],
      [1, 0.01, '2:00:00', 'gpu:2'],
    ]);
    const groups = groupBySettings(
      s,
      e.cells.map((config) => ({ cell: { config } as PlannedCell })),
    );
    expect(groups.map((g) => g.cells.length)).toEqual([1, 1, 1, 1]);
    const two = groupBySettings(
      ExecutorSchema.parse({ name: 'slurm', vary: { seed: { '1': { time: '5:00' } } } }),
      e.cells.map((config) => ({ cell: { config } as PlannedCell })),
    );
    expect(two.map((g) => [g.settings.time, g.cells.map((c) => c.cell.config.axes.seed)])).toEqual([
      [undefined, [0, 0]],
      ['5:00', [1, 1]],
    ]);
    expect(errorOf([], { ...doc, executor: { vary: { dataset: { x: { time: '1' } } } } })).toBe(
      'e.yaml: executor.vary.dataset: no such grid axis (axes: seed, lr)',
    );
    expect(errorOf([], { ...doc, executor: { vary: { seed: { '7': { time: '1' } } } } })).toBe(
      'e.yaml: executor.vary.seed.7: axis seed has no value 7 (values: 0, 1)',
    );
  });
});
