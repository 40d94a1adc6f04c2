import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

/** FNV-1a, 32 bit, over UTF-16 code units: a fast non-cryptographic hash for seeds and short names. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Read size of the file digests: few system calls for checkpoints and shards of hundreds of MB. */
const CHUNK_BYTES = 1 << 22;

/** Called after each chunk with the bytes hashed so far and the file's size. */
export type HashProgress = (done: number, total: number) => void;

/** sha256 of a text (UTF-8) or bytes, as 64 lower-case hex characters. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of a file, streamed in 4 MiB chunks (the file is never held whole), as 64 hex characters. */
export async function sha256File(file: string, onProgress?: HashProgress): Promise<string> {
  const hash = createHash('sha256');
  const total = onProgress ? (await fs.promises.stat(file)).size : 0;
  let done = 0;
  const stream = fs.createReadStream(file, { highWaterMark: CHUNK_BYTES }) as AsyncIterable<Buffer>;
  for await (const chunk of stream) {
    hash.update(chunk);
    done += chunk.length;
    onProgress?.(done, total);
  }
  return hash.digest('hex');
}

/**
 * The same digest for synchronous code (checkpoint writes and checks run between training steps,
 * where the trainer does no other I/O to overlap with).
 */
export function sha256FileSync(file: string): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  const fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}
