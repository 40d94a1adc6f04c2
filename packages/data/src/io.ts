/**
 * The data package's door to atomic writes (@sbir/core: temp file in the same folder, fsync, rename,
 * fsync the folder). Here a disk-full error (ENOSPC) becomes a one-line DataError and the temp file is
 * removed. `io.open` (core's `atomicIo`) is the only door to the file system, so tests can stand a
 * failing disk in for it.
 */
import { AtomicFile, writeFileAtomic as writeAtomic } from '@sbir/core';
import { DataError, errorMessage, isErrnoException, messages } from './errors';

export { atomicIo as io, isTempName, removeActiveTempFilesSync, type AtomicFile } from '@sbir/core';

function wrapWriteError(err: unknown, file: string): Error {
  if (err instanceof DataError) return err;
  if (isErrnoException(err) && (err.code === 'ENOSPC' || err.code === 'EDQUOT'))
    return new DataError('no-space', messages.noSpace(file));
  return new DataError('io', `cannot write ${file}: ${errorMessage(err)}`);
}

/** A file written in pieces, visible under its name only after `commit`; errors are DataErrors. */
export function createAtomicFile(file: string): Promise<AtomicFile> {
  return AtomicFile.create(file, wrapWriteError);
}

/** Writes `data` to `file` atomically; errors are DataErrors. */
export function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  return writeAtomic(file, data, wrapWriteError);
}
