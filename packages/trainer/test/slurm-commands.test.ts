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
  parseJobId,
  parseScontrol,
  parseSqueue,
  sbatchArgv,
  sbatchFailure,
  SlurmError,
} from '../src/slurm/commands';
import { taskBackend } from '../src/slurm/executor';
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
  expect(r.stdout.trim().endsWith(` ${tasks}`)).toBe(true);
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
    /executor\.sbatchArgs\[0\]: expected one sbatch option/,
  );
});
