/**
 * Minimal reader for NumPy `.npy` files (format versions 1-3): the magic `\x93NUMPY`, a version
 * pair, a little-endian header length (2 bytes in v1, 4 in v2/v3) and a Python-dict header such
 * as `{'descr': '|u1', 'fortran_order': False, 'shape': (1000, 784), }`, then C-order data.
 */
import * as fs from 'node:fs';
import { DataError } from './errors';

export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the first element. */
  dataOffset: number;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export function parseNpyHeader(buf: Buffer, file = '<buffer>'): NpyHeader {
  const bad = (why: string) => new DataError('bad-file', `not a valid .npy file: ${file} (${why})`);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw bad('missing \\x93NUMPY magic');
  const major = buf[6];
  let len: number;
  let start: number;
  if (major === 1) {
    len = buf.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw bad('truncated header');
    len = buf.readUInt32LE(8);
    start = 12;
  } else {
    throw bad(`unsupported format version ${major}`);
  }
  if (buf.length < start + len) throw bad('truncated header');
  const text = buf.subarray(start, start + len).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw bad('unreadable header dict');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((n) => !Number.isInteger(n) || n < 0)) throw bad(`bad shape (${shapeText})`);
  return { descr, fortranOrder: fortran === 'True', shape, dataOffset: start + len };
}

/** Reads just the header of a file on disk. */
export function readNpyHeader(file: string): NpyHeader {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(4096);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    let buf = head.subarray(0, n);
    if (buf.length >= 12 && buf[6] !== 1) {
      const need = 12 + buf.readUInt32LE(8);
      if (need > buf.length) {
        buf = Buffer.alloc(need);
        fs.readSync(fd, buf, 0, need, 0);
      }
    }
    return parseNpyHeader(buf, file);
  } finally {
    fs.closeSync(fd);
  }
}

/** Builds a .npy file (used by tests and fixtures). */
export function encodeNpy(data: Uint8Array, shape: number[], descr = '|u1'): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const pad = (64 - (unpadded % 64)) % 64;
  const header = dict + ' '.repeat(pad) + '\n';
  const pre = Buffer.alloc(10);
  MAGIC.copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    pre,
    Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}
