/**
 * Atomic writes: temp file in the same folder, fsync, rename, fsync the folder. A disk-full error
 * (ENOSPC) becomes a one-line DataError and the temp file is removed. `io.open` is the only door
 * to the file system here, so tests can stand a failing disk in for it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, errorMessage, isErrnoException, messages } from './errors';

export const io = {
  open: (file: string, flags: string): Promise<fs.promises.FileHandle> => fs.promises.open(file, flags),
};

/** Temp files being written now; removed on SIGINT/SIGTERM by the CLI. */
export const activeTempFiles = new Set<string>();

export function tempName(file: string): string {
  return `${file}.tmp-${process.pid}`;
}

/** True for names this package writes as temporaries (`<name>.tmp-<pid>`). */
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

function wrapWriteError(err: unknown, file: string): Error {
  if (err instanceof DataError) return err;
  if (isErrnoException(err) && (err.code === 'ENOSPC' || err.code === 'EDQUOT')) return new DataError('no-space', messages.noSpace(file));
  return new DataError('io', `cannot write ${file}: ${errorMessage(err)}`);
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

/** A file written in pieces and made visible under its final name only by `commit`. */
export class AtomicFile {
  private constructor(
    readonly file: string,
    readonly tmp: string,
    private fh: fs.promises.FileHandle | undefined,
  ) {}

  static async create(file: string): Promise<AtomicFile> {
    const tmp = tempName(file);
    activeTempFiles.add(tmp);
    try {
      return new AtomicFile(file, tmp, await io.open(tmp, 'w'));
    } catch (err) {
      activeTempFiles.delete(tmp);
      await fs.promises.rm(tmp, { force: true });
      throw wrapWriteError(err, file);
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    try {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await (this.fh as fs.promises.FileHandle).write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    } catch (err) {
      await this.abort();
      throw wrapWriteError(err, this.file);
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
      throw wrapWriteError(err, this.file);
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

/** Writes `data` to `file` atomically. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const f = await AtomicFile.create(file);
  await f.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  await f.commit();
}
