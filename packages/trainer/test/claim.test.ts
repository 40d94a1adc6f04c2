/**
 * The cell claim (claim.ts): exclusive creation, release, stale-lease takeover (dead pid on this host,
 * old heartbeat from another host, a Slurm task that left the queue), and the run-store side: two
 * real ablation processes on one experiment split its cells and train each exactly once.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireClaim, readClaim, staleReason, CLAIM_FILE, type ClaimRecord } from '../src/claim';
import { REPO_ROOT, childEnv, readJson, startCli, tmpDir, writeTinyExperiment } from './fixtures';
import type { CellStatus } from '../src/run-store';

jest.setTimeout(240_000);

let root: string;
beforeAll(() => (root = tmpDir('claim')));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const me = { kind: 'ablation' as const, pid: process.pid, host: 'host-a' };

/** A pid that is certainly dead: a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

function writeClaim(dir: string, rec: Partial<ClaimRecord>): void {
  fs.mkdirSync(dir, { recursive: true });
  const full: ClaimRecord = {
    formatVersion: 1,
    kind: 'ablation',
    pid: 1,
    host: 'host-a',
    token: 'old',
    claimedAt: new Date().toISOString(),
    heartbeatAt: new Date().toISOString(),
    ...rec,
  };
  fs.writeFileSync(path.join(dir, CLAIM_FILE), JSON.stringify(full));
}

test('one owner: a second claim sees the holder; release frees the cell', () => {
  const dir = path.join(root, 'basic');
  const a = acquireClaim(dir, me, { host: 'host-a' });
  if (!('claim' in a)) throw new Error('first claim failed');
  const b = acquireClaim(dir, { ...me, pid: process.pid }, { host: 'host-a' });
  expect('heldBy' in b && b.heldBy.token).toBe(a.claim.record.token);
  expect(a.claim.held()).toBe(true);
  expect(a.claim.update()).toBe(true);
  a.claim.release();
  expect(fs.existsSync(path.join(dir, CLAIM_FILE))).toBe(false);
  const c = acquireClaim(dir, me, { host: 'host-a' });
  expect('claim' in c).toBe(true);
  expect(fs.readdirSync(dir).sort()).toEqual([CLAIM_FILE]); // no temp files left behind
});

test('stale leases are taken over: dead pid on this host, old heartbeat on another host', () => {
  const dead = path.join(root, 'dead');
  writeClaim(dead, { pid: deadPid(), host: 'host-a' });
  const got = acquireClaim(dead, me, { host: 'host-a' });
  expect('claim' in got && got.claim.record.token).not.toBe('old');

  const other = path.join(root, 'other-fresh');
  writeClaim(other, { pid: deadPid(), host: 'host-b' }); // another host: its pid means nothing here
  expect('heldBy' in acquireClaim(other, me, { host: 'host-a', staleAfterMs: 60_000 })).toBe(true);

  const old = path.join(root, 'other-old');
  writeClaim(old, { host: 'host-b', heartbeatAt: new Date(Date.now() - 120_000).toISOString() });
  expect(staleReason(readClaim(old)!, { host: 'host-a', staleAfterMs: 60_000 })).toMatch(
    /heartbeat 120 s old/,
  );
  expect('claim' in acquireClaim(old, me, { host: 'host-a', staleAfterMs: 60_000 })).toBe(true);

  const garbage = path.join(root, 'garbage');
  fs.mkdirSync(garbage);
  fs.writeFileSync(path.join(garbage, CLAIM_FILE), '{"tok');
  expect('claim' in acquireClaim(garbage, me, { host: 'host-a' })).toBe(true);
});

test('a Slurm owner is live while its task is queued, stale once Slurm says it is gone', () => {
  const dir = path.join(root, 'slurm');
  writeClaim(dir, { kind: 'slurm', host: 'login', slurmJobId: '12_3', submission: 's1' });
  let active = true;
  const probe = { host: 'host-a', staleAfterMs: 1, isSlurmTaskActive: () => active };
  const held = acquireClaim(dir, me, probe);
  expect('heldBy' in held && held.heldBy.slurmJobId).toBe('12_3');
  active = false;
  expect(staleReason(readClaim(dir)!, probe)).toMatch(/Slurm job 12_3 is no longer active/);
  expect('claim' in acquireClaim(dir, me, probe)).toBe(true);
});

test('a task reusing its submission token adopts its own claim, not another one', () => {
  const dir = path.join(root, 'token');
  writeClaim(dir, { kind: 'slurm', token: 'sub-token', host: 'login', pid: process.pid });
  const mine = acquireClaim(dir, { ...me, kind: 'slurm' }, { host: 'login' }, 'sub-token');
  expect('claim' in mine).toBe(true);
  const theirs = acquireClaim(dir, { ...me, kind: 'slurm' }, { host: 'login' }, 'other-token');
  expect('heldBy' in theirs).toBe(true);
});

/** status.json as the run store writes it (run-store.ts), with the resumes list always read. */
type Status = CellStatus & { resumes: NonNullable<CellStatus['resumes']> };

test('two ablations on one experiment split the cells: each trained exactly once, separate logs', async () => {
  const dir = path.join(root, 'two');
  fs.mkdirSync(dir);
  const dataDir = path.join(dir, 'data', 'emoji-tiny');
  // the dataset first, so that the two ablations race on cells only
  const prep = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'packages/data/src/cli.ts'), 'prepare'].concat([
      '--dataset',
      'emoji',
      '--size',
      '32',
      '--max-categories',
      '4',
      '--out',
      dataDir,
    ]),
    { cwd: REPO_ROOT, env: childEnv(), encoding: 'utf8' },
  );
  expect(prep.status).toBe(0);
  const file = writeTinyExperiment(dir, { name: 'two', dataDir, train: 'limitRows: 160' });
  const runs = path.join(dir, 'runs');
  const args = ['ablation', '--experiment', file, '--runs-dir', runs, '--workers', '1', '--threads', '1'];
  const [a, b] = [startCli(args), startCli(args)];
  const [ra, rb] = await Promise.all([a.done, b.done]);
  // (the whole output on failure: which process failed and why)
  for (const r of [ra, rb])
    expect({ code: r.code, out: `${r.stdout}${r.stderr}` }).toMatchObject({ code: 0 });

  const meta = readJson<{ cells: string[] }>(path.join(runs, 'two', 'experiment.json'));
  expect(meta.cells).toHaveLength(4);
  for (const id of meta.cells) {
    const cell = path.join(runs, 'two', id);
    const status = readJson<Status>(path.join(cell, 'status.json'));
    expect(status).toMatchObject({ state: 'finished', attempt: 1, resumes: [] });
    // 20 steps: a step line every 2 steps and 2 epoch lines, each exactly once
    const lines = fs.readFileSync(path.join(cell, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean);
    expect(status.totalSteps).toBe(20);
    expect(lines).toHaveLength(12);
    expect(fs.existsSync(path.join(cell, CLAIM_FILE))).toBe(false);
  }
  // both trained something, and each skipped what the other held
  const trained = (out: string): number => (out.match(/: finished in /g) ?? []).length;
  expect(trained(ra.stdout) + trained(rb.stdout)).toBe(4);
  expect(trained(ra.stdout)).toBeGreaterThan(0);
  expect(trained(rb.stdout)).toBeGreaterThan(0);
  expect(`${ra.stdout}${rb.stdout}`).toMatch(/skipped \(claimed by pid \d+ on /);
  // one log folder per ablation process: no log file written by both
  const logDirs = fs.readdirSync(path.join(runs, 'two', '.logs'));
  expect(logDirs.sort()).toEqual([`${os.hostname()}-${a.pid}`, `${os.hostname()}-${b.pid}`].sort());
});
