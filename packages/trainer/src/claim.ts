/**
 * The cell claim: one owner per cell, across processes and hosts (README "Cell claim").
 *
 * A claim is `claim.json` in the cell folder. It is created with link(2) from a complete temp file,
 * which fails with EEXIST when the file exists: atomic on local filesystems and on NFS (the classic
 * NFS-safe lock; no flock, which NFS does not honour reliably). The owner refreshes `heartbeatAt`
 * (rewrite by rename); the others judge a claim stale when its owner is gone:
 * - same host: its pid is dead (or a zombie);
 * - an owner that is a Slurm job: the `isSlurmTaskActive` probe says the task is no longer pending or
 *   running (Slurm is the authority while it can be asked);
 * - otherwise (another host): the heartbeat is older than `staleAfterMs` (default 10 min,
 *   SBIR_CLAIM_STALE_S), so hosts' clocks must agree to well within that (NTP).
 * A stale claim is taken over under a mkdir(2) guard (`claim.takeover/`, atomic on NFS too): the
 * guard holder re-reads the claim, removes it only if it is still the stale one, then claims with
 * link(2) like anyone else, so that a concurrent fresh claim still wins cleanly.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sbirEnv, writeJsonAtomicSync } from '@sbir/core';
import { isAlive, nowIso } from './run-store';

export const CLAIM_FILE = 'claim.json';
const TAKEOVER_DIR = 'claim.takeover';
/** A takeover guard left by a process killed inside the few lines it guards. */
const TAKEOVER_STALE_MS = 30_000;
export const DEFAULT_HEARTBEAT_MS = 30_000;

/** SBIR_CLAIM_STALE_S, else 10 minutes (@sbir/core env.ts). */
export function defaultStaleAfterMs(): number {
  return sbirEnv().claimStaleMs;
}

export interface ClaimOwner {
  /** `ablation`: a trainer process (local workers); `slurm`: a Slurm array task (or its submission). */
  kind: 'ablation' | 'slurm';
  pid: number;
  host: string;
  /** Slurm owners: the submission folder name, and the job/task once known. */
  submission?: string;
  slurmJobId?: string | null;
}

export interface ClaimRecord extends ClaimOwner {
  formatVersion: 1;
  token: string;
  claimedAt: string;
  heartbeatAt: string;
}

export interface ClaimProbe {
  host?: string;
  staleAfterMs?: number;
  now?: number;
  /** For Slurm owners: true/false when Slurm answers, null when it cannot be asked. */
  isSlurmTaskActive?: (rec: ClaimRecord) => boolean | null;
}

export function newToken(): string {
  return randomBytes(12).toString('hex');
}

export function readClaim(cellDir: string): ClaimRecord | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(cellDir, CLAIM_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const rec = JSON.parse(text) as ClaimRecord;
    if (typeof rec.token === 'string' && typeof rec.host === 'string') return rec;
  } catch {
    // unreadable: treated as a claim without an owner (stale)
  }
  return { formatVersion: 1, kind: 'ablation', pid: 0, host: '', token: '', claimedAt: '', heartbeatAt: '' };
}

/** Why `rec` no longer has an owner, or null while it does. */
export function staleReason(rec: ClaimRecord, probe: ClaimProbe = {}): string | null {
  const host = probe.host ?? os.hostname();
  if (!rec.token) return 'unreadable claim';
  if (rec.kind === 'slurm' && probe.isSlurmTaskActive) {
    const active = probe.isSlurmTaskActive(rec);
    if (active === true) return null;
    if (active === false) return `Slurm job ${rec.slurmJobId ?? rec.submission} is no longer active`;
  }
  // Without an answer from Slurm a Slurm owner is judged like any process: the submitter's pid until
  // the task starts and writes its own. A takeover of a pending task's claim is safe: the task checks
  // the claim's token when it starts and exits without touching the cell when it is not its own.
  if (rec.host === host) return isAlive(rec.pid) ? null : `pid ${rec.pid} on ${host} is gone`;
  const age = (probe.now ?? Date.now()) - Date.parse(rec.heartbeatAt);
  const limit = probe.staleAfterMs ?? defaultStaleAfterMs();
  return age > limit ? `heartbeat ${Math.round(age / 1000)} s old (limit ${limit / 1000} s)` : null;
}

/** True: created; false: claim.json exists; null: the temp file vanished (try again). */
function writeExclusive(file: string, rec: ClaimRecord): boolean | null {
  const tmp = `${file}.tmp-${rec.token}`;
  fs.writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'ENOENT') return null;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** A claim this process holds. */
export class Claim {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly cellDir: string,
    public record: ClaimRecord,
  ) {}

  get file(): string {
    return path.join(this.cellDir, CLAIM_FILE);
  }

  /** True while claim.json is still ours (a takeover by another owner makes it false). */
  held(): boolean {
    return readClaim(this.cellDir)?.token === this.record.token;
  }

  /** Rewrites the claim (heartbeat, new pid/host/job); false when it is no longer ours. */
  update(patch: Partial<ClaimOwner> = {}): boolean {
    if (!this.held()) return false;
    this.record = { ...this.record, ...patch, heartbeatAt: nowIso() };
    // the token as temp tag: a takeover in this same process must not share the temp file
    writeJsonAtomicSync(this.file, this.record, { tag: this.record.token, mkdir: false });
    return true;
  }

  /** Heartbeats every `ms` until released; `onLost` once if the claim was taken over. */
  startHeartbeat(ms = DEFAULT_HEARTBEAT_MS, onLost?: () => void): void {
    this.timer = setInterval(() => {
      let ok = false;
      try {
        ok = this.update();
      } catch {
        ok = true; // a transient filesystem error is not a lost claim; the next beat retries
      }
      if (!ok) {
        this.stopHeartbeat();
        onLost?.();
      }
    }, ms);
    this.timer.unref();
  }

  stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Removes claim.json if it is still ours. */
  release(): void {
    this.stopHeartbeat();
    if (this.held()) fs.rmSync(this.file, { force: true });
  }
}

export type ClaimResult = { claim: Claim } | { heldBy: ClaimRecord };

/**
 * Claims the cell for `owner`: a fresh claim, or the takeover of a stale one. `token`: reuse a known
 * token (a Slurm task claiming with its submission's token). Returns who holds it otherwise.
 */
export function acquireClaim(
  cellDir: string,
  owner: ClaimOwner,
  probe: ClaimProbe = {},
  token = newToken(),
): ClaimResult {
  fs.mkdirSync(cellDir, { recursive: true });
  const file = path.join(cellDir, CLAIM_FILE);
  const now = nowIso();
  const rec: ClaimRecord = { formatVersion: 1, ...owner, token, claimedAt: now, heartbeatAt: now };
  for (let tries = 0; tries < 5; tries++) {
    const created = writeExclusive(file, rec);
    if (created) return { claim: new Claim(cellDir, rec) };
    if (created === null) continue;
    const current = readClaim(cellDir);
    if (!current) continue; // released in between: try again
    if (current.token === token) return { claim: new Claim(cellDir, current) };
    if (staleReason(current, probe) === null) return { heldBy: current };
    if (!removeStale(cellDir, current.token)) {
      const holder = readClaim(cellDir);
      if (holder) return { heldBy: holder };
    }
  }
  return { heldBy: readClaim(cellDir) ?? rec };
}

/** Under the takeover guard: removes claim.json only if it still carries `staleToken`. */
function removeStale(cellDir: string, staleToken: string): boolean {
  const guard = path.join(cellDir, TAKEOVER_DIR);
  try {
    fs.mkdirSync(guard);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    try {
      if (Date.now() - fs.statSync(guard).mtimeMs > TAKEOVER_STALE_MS) fs.rmdirSync(guard);
    } catch {
      // someone else removed it
    }
    return false; // another process is taking over right now
  }
  try {
    if (readClaim(cellDir)?.token !== staleToken) return false;
    fs.rmSync(path.join(cellDir, CLAIM_FILE), { force: true });
    return true;
  } finally {
    fs.rmdirSync(guard);
  }
}

/** One line for "held by" messages. */
export function describeOwner(rec: ClaimRecord): string {
  if (rec.kind === 'slurm')
    return rec.slurmJobId ? `Slurm job ${rec.slurmJobId}` : `Slurm submission ${rec.submission ?? '?'}`;
  return `pid ${rec.pid} on ${rec.host}`;
}
