/**
 * Checkpoint formats by magic number (extension only as a hint in messages): the one place a new
 * reader is registered.
 */
import * as fs from 'fs';
import { readKerasH5, isHdf5 } from './keras';
import { isSafetensors, readSafetensors } from './safetensors';
import { CheckpointError, ReadOptions, SourceCheckpoint } from './source';
import { isLegacyPickle, isTar, isZip, readTorch } from './torch';

export interface CheckpointFormat {
  name: string;
  /** Usual file name endings (for messages). */
  extensions: string[];
  detect(head: Uint8Array): boolean;
  read(file: string, opts: ReadOptions): Promise<SourceCheckpoint>;
}

export const CHECKPOINT_FORMATS: readonly CheckpointFormat[] = [
  {
    name: 'pytorch',
    extensions: ['.pth', '.pt', '.bin', '.ckpt'],
    detect: (h) => isZip(h) || isLegacyPickle(h) || isTar(h),
    read: async (file, opts) => readTorch(file, fs.readFileSync(file), opts),
  },
  {
    name: 'safetensors',
    extensions: ['.safetensors'],
    detect: isSafetensors,
    read: async (file) => readSafetensors(file, fs.readFileSync(file)),
  },
  {
    name: 'keras-h5',
    extensions: ['.h5', '.hdf5', '.weights.h5'],
    detect: isHdf5,
    read: (file) => readKerasH5(file),
  },
];

function readHead(file: string, n = 512): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = fs.readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

/** The format of `file` by its first bytes; an error names the file and the known formats. */
export function detectFormat(file: string): CheckpointFormat {
  const head = readHead(file);
  const f = CHECKPOINT_FORMATS.find((x) => x.detect(head));
  if (!f) {
    const known = CHECKPOINT_FORMATS.map((x) => `${x.name} (${x.extensions.join(', ')})`).join('; ');
    throw new CheckpointError(file, null, `unrecognised checkpoint format (known: ${known})`);
  }
  return f;
}

export async function readCheckpoint(file: string, opts: ReadOptions = {}): Promise<SourceCheckpoint> {
  return detectFormat(file).read(file, opts);
}
