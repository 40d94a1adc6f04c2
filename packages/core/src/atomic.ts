/**
 * Atomic file writes, the one implementation every package uses: the data go to a temp file in the
 * same folder (`<file>.tmp-<tag>`), the file is fsynced, renamed over `file`, and the folder is fsynced
 * so that the rename itself survives a crash. A reader sees the old file or the new one, never half.
 *
 * Why not `write-file-atomic` (npm): it fsyncs the file but not the folder after the rename, and it has
 * no streaming form (the data package writes shards of hundreds of MB in pieces).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The file system calls the async form goes through, so that tests can stand a failing disk in. */
export const atomicIo = {
  open: (file: string, flags: string): Promise<fs.promises.FileHandle> => fs.promises.open(file, flags),
};

/** Temp files being written now (async form); a CLI removes them on SIGINT/SIGTERM. */
export const activeTempFiles = new Set<string>();

/** The temp name of `file`: `<file>.tmp-<tag>` (the pid unless two writers in one process may race). */
export function tempName(file: string, tag: string | number = process.pid): string {
  return `${file}.tmp-${tag}`;
}

/** True for names written as temporaries by `tempName` with a pid. */
export function isTempName(name: string): boolean {
  return /\.tmp-\d+$/.test(name);
}

export function removeActiveTempFilesSync(): void {
  for (const f of activeTempFiles) {
    try {
      fs.rmSync(f, { force: true });
    } catch {
      // best effort while exiting
    }
  }
  activeTempFiles.clear();
}

/** fsync of a folder (makes a rename in it durable); a no-op where the file system refuses it. */
export function fsyncDirSync(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // some file systems do not allow fsync on a directory; the rename is still atomic
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, 'r');
    await fh.sync();
  } catch {
    // some file systems do not allow fsync on a directory; the rename is still atomic
  } finally {
    await fh?.close();
  }
}

export interface AtomicWriteOptions {
  /** Create the file's folder first (default true). */
  mkdir?: boolean;
  /** Temp-name tag (default the pid): writers that may race within one process pass their own. */
  tag?: string | number;
}

/** Renames `tmp` over `file` and fsyncs the folder; removes `tmp` when `write` throws. */
function commitSync(tmp: string, file: string, write: () => void): void {
  try {
    write();
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // the write error is the one to report
    }
    throw err;
  }
  fsyncDirSync(path.dirname(file));
}

/** Writes `data` to `file` atomically (synchronous form). */
export function writeFileAtomicSync(
  file: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions = {},
): void {
  if (opts.mkdir ?? true) fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempName(file, opts.tag);
  commitSync(tmp, file, () => {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** `value` as pretty JSON with a final newline, written atomically. */
export function writeJsonAtomicSync(file: string, value: unknown, opts: AtomicWriteOptions = {}): void {
  writeFileAtomicSync(file, `${JSON.stringify(value, null, 2)}\n`, opts);
}

/** Copies the file `src` to `file` atomically (synchronous form). */
export function copyFileAtomicSync(src: string, file: string, opts: AtomicWriteOptions = {}): void {
  if (opts.mkdir ?? true) fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempName(file, opts.tag);
  commitSync(tmp, file, () => {
    fs.copyFileSync(src, tmp);
    const fd = fs.openSync(tmp, 'r+');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** Turns a write error into the error a package reports (e.g. a one-line "disk full"). */
export type WrapWriteError = (err: unknown, file: string) => Error;

const asIs: WrapWriteError = (err) => (err instanceof Error ? err : new Error(String(err)));

/** A file written in pieces and made visible under its final name only by `commit` (async form). */
export class AtomicFile {
  private constructor(
    readonly file: string,
    readonly tmp: string,
    private fh: fs.promises.FileHandle | undefined,
    private readonly wrap: WrapWriteError,
  ) {}

  static async create(file: string, wrap: WrapWriteError = asIs): Promise<AtomicFile> {
    const tmp = tempName(file);
    activeTempFiles.add(tmp);
    try {
      return new AtomicFile(file, tmp, await atomicIo.open(tmp, 'w'), wrap);
    } catch (err) {
      activeTempFiles.delete(tmp);
      await fs.promises.rm(tmp, { force: true });
      throw wrap(err, file);
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    try {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await (this.fh as fs.promises.FileHandle).write(
          chunk,
          off,
          chunk.byteLength - off,
        );
        off += bytesWritten;
      }
    } catch (err) {
      await this.abort();
      throw this.wrap(err, this.file);
    }
  }

  private syncing: Promise<void> | undefined;
  private syncError: unknown;

  /**
   * Starts an fdatasync in the background (at most one at a time), so that the data of a large
   * file reaches the disk while it is still being written and `commit` has little left to wait for.
   */
  syncSoon(): void {
    const fh = this.fh;
    if (!fh || this.syncing) return;
    this.syncing = fh
      .datasync()
      .catch((err: unknown) => {
        this.syncError = err;
      })
      .finally(() => {
        this.syncing = undefined;
      });
  }

  async commit(): Promise<void> {
    try {
      await this.syncing;
      if (this.syncError) throw this.syncError;
      const fh = this.fh as fs.promises.FileHandle;
      await fh.sync();
      await fh.close();
      this.fh = undefined;
      await fs.promises.rename(this.tmp, this.file);
      activeTempFiles.delete(this.tmp);
      await fsyncDir(path.dirname(this.file));
    } catch (err) {
      await this.abort();
      throw this.wrap(err, this.file);
    }
  }

  async abort(): Promise<void> {
    await this.syncing;
    const fh = this.fh;
    this.fh = undefined;
    try {
      await fh?.close();
    } catch {
      // already failing
    }
    await fs.promises.rm(this.tmp, { force: true });
    activeTempFiles.delete(this.tmp);
  }
}

/** Writes `data` to `file` atomically (async form). */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  wrap?: WrapWriteError,
): Promise<void> {
  const f = await AtomicFile.create(file, wrap);
  await f.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  await f.commit();
}
