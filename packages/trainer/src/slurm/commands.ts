/**
 * The Slurm commands the executor uses (sbatch, scontrol, squeue, scancel, sacct when accounting
 * exists), always run with an argv array (never a shell string), and what their answers mean.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../messages';
import type { ExecutorSettings } from '../schema';

/** A Slurm command failed at run time (controller unreachable, ...): one line, exit 1. */
export class SlurmError extends Error {
  override name = 'SlurmError';
}

export const SLURM_COMMANDS = ['sbatch', 'squeue', 'scontrol', 'scancel'] as const;

/** The file `cmd` resolves to on PATH, or null. */
export function findOnPath(cmd: string, envPath = process.env.PATH ?? ''): string | null {
  for (const dir of envPath.split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, cmd);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** Throws a one-line ConfigError naming what is missing when the Slurm commands are not on PATH. */
export function requireSlurmCommands(): void {
  const missing = SLURM_COMMANDS.filter((c) => !findOnPath(c));
  if (missing.length > 0)
    throw new ConfigError(
      `--executor slurm: ${missing.join(', ')} not found on PATH (run on a Slurm login node, or install the Slurm client: apt-get install slurm-client)`,
    );
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function slurmCommand(cmd: string, args: string[], timeoutMs = 30_000): CommandResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    code: r.error ? null : r.status,
    stdout: r.stdout ?? '',
    stderr: r.error ? r.error.message : (r.stderr ?? ''),
  };
}

/** Slurm's own message in one line: its `error:` lines, joined. */
export function oneLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/^\s*(sbatch|scontrol|squeue|scancel|sacct): (error: )?/, '').trim())
    .filter(Boolean);
  return lines.join('; ') || 'no message';
}

/**
 * The sbatch command line (argv after `sbatch`). The job is submitted held (`--hold`): the executor
 * writes every cell's job/task id into the run store before the first task can start, then releases it.
 */
export function sbatchArgv(
  s: ExecutorSettings,
  o: {
    jobName: string;
    tasks: number;
    outputPattern: string;
    chdir: string;
    script: string;
    /** Arguments of the job script (the array number of a submission with several arrays). */
    scriptArgs?: string[];
    requeue: boolean;
  },
): string[] {
  const array = `0-${o.tasks - 1}${s.arrayParallelism ? `%${s.arrayParallelism}` : ''}`;
  const argv = [
    '--parsable',
    '--hold',
    `--job-name=${o.jobName}`,
    `--array=${array}`,
    `--output=${o.outputPattern}`,
    '--open-mode=append', // a requeued task adds to its output instead of replacing it
    `--chdir=${o.chdir}`,
    '--export=ALL',
    o.requeue ? '--requeue' : '--no-requeue',
    // the batch shell execs the task, so B: reaches it: checkpoint, then requeue (slurm/task.ts)
    ...(o.requeue ? [`--signal=B:USR1@${s.signalBefore ?? 120}`] : []),
    '--ntasks=1',
  ];
  if (s.partition) argv.push(`--partition=${s.partition}`);
  if (s.time) argv.push(`--time=${s.time}`);
  if (s.cpusPerTask) argv.push(`--cpus-per-task=${s.cpusPerTask}`);
  if (s.mem) argv.push(`--mem=${s.mem}`);
  if (s.gres) argv.push(`--gres=${s.gres}`);
  if (s.account) argv.push(`--account=${s.account}`);
  if (s.qos) argv.push(`--qos=${s.qos}`);
  argv.push(...s.sbatchArgs, o.script, ...(o.scriptArgs ?? []));
  return argv;
}

/** Does this request ask for a GPU, in any of sbatch's spellings (`gres`, `--gpus=1`, `-G 1`, `--gres gpu:1`)? */
export function requestsGpu(s: Pick<ExecutorSettings, 'gres' | 'sbatchArgs'>): boolean {
  const gpuGres = (v: string | undefined): boolean => /(^|,)gpu(:|$|,)/.test(v ?? '');
  if (gpuGres(s.gres)) return true;
  const args = s.sbatchArgs ?? [];
  return args.some((a, i) => {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (m) {
      const value = m[2] ?? args[i + 1];
      if (/^gpus(-per-(task|node|socket))?$/.test(m[1]!)) return value !== '0';
      return m[1] === 'gres' && gpuGres(value);
    }
    return /^-G/.test(a) && (a.slice(2) || args[i + 1]) !== '0';
  });
}

/** Did Slurm grant this task a GPU? (however it was requested: the task's environment says it) */
export function grantedGpu(env: NodeJS.ProcessEnv = process.env): boolean {
  if (Number(env.SLURM_GPUS_ON_NODE) > 0) return true;
  if (env.SLURM_JOB_GPUS || env.SLURM_STEP_GPUS) return true;
  const cuda = env.CUDA_VISIBLE_DEVICES;
  return cuda !== undefined && cuda !== '' && cuda !== '-1' && cuda !== 'NoDevFiles';
}

/** Which executor setting an sbatch rejection is about (Slurm 22.05 messages). */
const REJECTIONS: [RegExp, keyof ExecutorSettings][] = [
  [/partition/i, 'partition'],
  [/gres|generic resource/i, 'gres'],
  [/--time|time limit/i, 'time'],
  [/memory/i, 'mem'],
  [/account|association/i, 'account'],
  [/qos/i, 'qos'],
  [/node configuration|cpus|processor/i, 'cpusPerTask'],
];

/** An sbatch failure as one line naming the executor setting: ConfigError (exit 2) or SlurmError (1). */
export function sbatchFailure(stderr: string, s: ExecutorSettings, file: string): Error {
  const message = oneLine(stderr);
  const hit = REJECTIONS.find(([re]) => re.test(message));
  if (!hit) return new SlurmError(`executor slurm: sbatch failed: ${message}`);
  const key = hit[1];
  const value = s[key];
  const shown = value === undefined ? '(not set)' : JSON.stringify(value);
  return new ConfigError(`${file}: executor.${key} ${shown}: sbatch: ${message}`);
}

/** `--parsable` prints `<jobid>[;<cluster>]`. */
export function parseJobId(stdout: string): string | null {
  const m = /^(\d+)(;\S+)?\s*$/.exec(stdout.trim());
  return m ? m[1]! : null;
}

export interface TaskState {
  /** `<array job id>_<task id>` */
  id: string;
  state: string;
  reason: string | null;
  node: string | null;
}

/** States in which a task still holds (or will hold) its cell. */
const ACTIVE = new Set([
  'PENDING',
  'RUNNING',
  'CONFIGURING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
  'STOPPED',
]);

export function isActiveState(state: string): boolean {
  return ACTIVE.has(state);
}

/** Job states Slurm reports once a task has ended for good (squeue/scontrol/sacct spelling). */
const ENDED = new Set([
  'COMPLETED',
  'CANCELLED',
  'FAILED',
  'TIMEOUT',
  'NODE_FAIL',
  'PREEMPTED',
  'OUT_OF_MEMORY',
  'BOOT_FAIL',
  'DEADLINE',
]);

export function isEndedState(state: string): boolean {
  return ENDED.has(state);
}

/** The `error` of a cell whose task Slurm stopped. */
export function stoppedText(taskId: string, state: string, reason: string | null): string {
  return `Slurm task ${taskId} ended ${state}${reason ? ` (${reason})` : ''}; rerun resumes from the last checkpoint`;
}

/** squeue lines `%i|%T|%r|%N` (one per array task with -r) -> task states by id. */
export function parseSqueue(stdout: string): Map<string, TaskState> {
  const out = new Map<string, TaskState>();
  for (const line of stdout.split('\n')) {
    const [id, state, reason, node] = line.trim().split('|');
    if (!id || !state) continue;
    out.set(id, {
      id,
      state,
      reason: reason && reason !== 'None' ? reason : null,
      node: node || null,
    });
  }
  return out;
}

/** The queue (pending, running, completing tasks) of these array jobs; null when squeue fails. */
export function queueStates(jobIds: string[]): Map<string, TaskState> | null {
  if (jobIds.length === 0) return new Map();
  const r = slurmCommand('squeue', ['-h', '-r', `--jobs=${jobIds.join(',')}`, '-o', '%i|%T|%r|%N']);
  // squeue exits non-zero for job ids it no longer knows: that is an empty queue, not a failure
  if (r.code !== 0 && !/Invalid job id/i.test(r.stderr)) return null;
  return parseSqueue(r.stdout);
}

/** `scontrol -o show job` fields (Key=Value separated by spaces). */
export function parseScontrol(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of stdout.trim().matchAll(/(\S+?)=(\S*)/g)) if (!(m[1]! in out)) out[m[1]!] = m[2]!;
  return out;
}

/**
 * The last known state of a task that left the queue: scontrol (for MinJobAge after it ends), else
 * sacct (when accounting exists), else null.
 */
export function finalState(taskId: string): TaskState | null {
  const sc = slurmCommand('scontrol', ['-o', 'show', 'job', taskId]);
  if (sc.code === 0 && sc.stdout.includes('JobState=')) {
    const f = parseScontrol(sc.stdout);
    const reason = f.Reason && f.Reason !== 'None' ? f.Reason : null;
    return { id: taskId, state: f.JobState ?? 'UNKNOWN', reason, node: f.NodeList || null };
  }
  const sa = slurmCommand('sacct', ['-n', '-P', '-X', '-j', taskId, '-o', 'JobID,State,NodeList']);
  if (sa.code === 0) {
    const line = sa.stdout.split('\n').find((l) => l.startsWith(`${taskId}|`));
    if (line) {
      const [, state, node] = line.split('|');
      return { id: taskId, state: (state ?? 'UNKNOWN').split(' ')[0]!, reason: null, node: node || null };
    }
  }
  return null;
}

/** Is `sbatch`'s cluster reachable? (for tests and `status`) */
export function clusterReachable(): boolean {
  return findOnPath('sinfo') !== null && slurmCommand('sinfo', ['-h', '-o', '%P'], 10_000).code === 0;
}
