/**
 * Streaming readers for word-vector files: GloVe text (`word v1 .. vn` per line), fastText `.vec`
 * (the same, after a `count dim` header line) and word2vec binary (`count dim\n`, then per word
 * `word<space>` + dim float32 little-endian, an optional newline after each row). The format is
 * detected from the file's first bytes, never its extension. The file is read once, in 1 MiB
 * chunks: only the rows of the words asked for are kept and the sha256 is computed in the same
 * pass, so memory stays flat whatever the file size (the 3.6 GB GoogleNews file included).
 * Every row is checked (dimension, UTF-8, numbers), and an error names the file and the line
 * (text) or the word's position (binary).
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { DataError } from '../errors';

export type WordVectorFormat = 'glove' | 'word2vec' | 'fasttext';
export const WORD_VECTOR_FORMATS: readonly WordVectorFormat[] = ['glove', 'word2vec', 'fasttext'];

export interface WordVectorRead {
  file: string;
  format: WordVectorFormat;
  dim: number;
  /** Rows in the file. */
  rows: number;
  bytes: number;
  /** `sha256:<hex>` of the whole file. */
  sha256: string;
  /** The rows of the words asked for that the file has. */
  vectors: Map<string, Float32Array>;
}

export interface ReadWordVectorsOptions {
  /** Called about once per 64 MiB read. */
  onBytes?: (done: number, total: number) => void;
}

const HEAD_BYTES = 1 << 16;
const CHUNK_BYTES = 1 << 20;
/** A word2vec word longer than this is a misaligned row, not a word. */
const MAX_WORD_BYTES = 4096;
const NEWLINE = 0x0a;
const SPACE = 0x20;
const HEADER = /^\s*(\d+)[ \t]+(\d+)\s*$/;

function bad(file: string, where: string, why: string): DataError {
  return new DataError('bad-file', `word vectors ${file}: ${where ? `${where}: ` : ''}${why}`);
}

/** `"word"` with control characters and quotes escaped, for messages. */
export function quoteWord(word: string): string {
  return JSON.stringify(word);
}

function hexBytes(buf: Buffer): string {
  return [...buf.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** The whitespace-separated fields of one text line (no allocation per byte; used on every row). */
function countFields(buf: Buffer, start: number, end: number): number {
  let fields = 0;
  let inField = false;
  for (let i = start; i < end; i++) {
    const sep = buf[i] === SPACE || buf[i] === 0x09;
    if (!sep && !inField) fields++;
    inField = !sep;
  }
  return fields;
}

function isNumber(s: string): boolean {
  return s.length > 0 && Number.isFinite(Number(s));
}

/** Format and header from the first bytes of the file. */
export function detectFormat(
  head: Buffer,
  file: string,
): { format: WordVectorFormat; header?: { count: number; dim: number } } {
  if (head.length === 0) throw bad(file, '', 'the file is empty');
  if (head[0] === 0x1f && head[1] === 0x8b) throw bad(file, '', 'gzip-compressed; decompress it first');
  const nl = head.indexOf(NEWLINE);
  const first = head.subarray(0, nl < 0 ? head.length : nl);
  if (!isUtf8(first)) throw bad(file, 'line 1', 'not UTF-8 text and no `count dim` header');
  const m = HEADER.exec(first.toString('utf8'));
  if (m) {
    const header = { count: Number(m[1]), dim: Number(m[2]) };
    if (header.dim < 1) throw bad(file, 'line 1', `header "${m[0].trim()}" gives dimension 0`);
    // fastText .vec: the next line is text, a word and numbers (their count is checked by the
    // parser, which names a mismatch); word2vec binary: float bytes, never all digits and spaces
    const next = nl < 0 ? Buffer.alloc(0) : head.subarray(nl + 1);
    const nl2 = next.indexOf(NEWLINE);
    const line = next.subarray(0, nl2 < 0 ? next.length : nl2);
    const fields = isUtf8(line)
      ? line
          .toString('utf8')
          .trim()
          .split(/[ \t]+/)
      : [];
    const text = fields.length >= 2 && fields.slice(1).every(isNumber);
    return { format: text ? 'fasttext' : 'word2vec', header };
  }
  const fields = first
    .toString('utf8')
    .trim()
    .split(/[ \t]+/);
  if (fields.length >= 2 && fields.slice(1).every(isNumber)) return { format: 'glove' };
  throw bad(
    file,
    'line 1',
    'not a word-vector file: neither a `count dim` header (word2vec, fastText) nor `word v1 .. vn` (GloVe)',
  );
}

/** Reads `file` once and returns the rows of the words in `wanted`. */
export async function readWordVectors(
  file: string,
  wanted: ReadonlySet<string>,
  opts: ReadWordVectorsOptions = {},
): Promise<WordVectorRead> {
  let total: number;
  const head = Buffer.alloc(HEAD_BYTES);
  let headLength: number;
  try {
    total = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r');
    try {
      headLength = fs.readSync(fd, head, 0, HEAD_BYTES, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(
      code === 'ENOENT' || code === 'EISDIR' ? 'bad-option' : 'io',
      `option --word-vectors: cannot read ${file} (${code ?? String(err)})`,
    );
  }
  const { format, header } = detectFormat(head.subarray(0, headLength), file);
  const parser =
    format === 'word2vec' ? new BinaryParser(file, header!, wanted) : new TextParser(file, header, wanted);
  const hash = createHash('sha256');
  await streamChunks(file, total, hash, (chunk) => parser.push(chunk), opts.onBytes);
  const rows = parser.finish();
  return {
    file,
    format,
    dim: parser.dim,
    rows,
    bytes: total,
    sha256: `sha256:${hash.digest('hex')}`,
    vectors: parser.vectors,
  };
}

async function streamChunks(
  file: string,
  total: number,
  hash: Hash,
  onChunk: (chunk: Buffer) => void,
  onBytes?: (done: number, total: number) => void,
): Promise<void> {
  const stream = fs.createReadStream(file, { highWaterMark: CHUNK_BYTES });
  let done = 0;
  let reported = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      onChunk(chunk);
      done += chunk.length;
      if (onBytes && done - reported >= 64 * CHUNK_BYTES) {
        reported = done;
        onBytes(done, total);
      }
    }
  } finally {
    stream.destroy();
  }
  onBytes?.(done, total);
}

/** GloVe and fastText text: one row per line. */
class TextParser {
  dim = 0;
  readonly vectors = new Map<string, Float32Array>();
  private carry: Buffer = Buffer.alloc(0);
  private line = 0;
  private rows = 0;

  constructor(
    private readonly file: string,
    private readonly header: { count: number; dim: number } | undefined,
    private readonly wanted: ReadonlySet<string>,
  ) {
    if (header) this.dim = header.dim;
  }

  push(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE, start); nl >= 0; nl = buf.indexOf(NEWLINE, start)) {
      this.onLine(buf, start, nl);
      start = nl + 1;
    }
    this.carry = Buffer.from(buf.subarray(start));
  }

  finish(): number {
    if (this.carry.length) this.onLine(this.carry, 0, this.carry.length);
    if (this.header && this.rows !== this.header.count)
      throw bad(
        this.file,
        `line ${this.line}`,
        `the header announces ${this.header.count} rows, the file has ${this.rows} (truncated or wrong header)`,
      );
    if (this.rows === 0) throw bad(this.file, '', 'no vectors in the file');
    return this.rows;
  }

  private onLine(buf: Buffer, start: number, end: number): void {
    this.line++;
    while (end > start && (buf[end - 1] === SPACE || buf[end - 1] === 0x0d || buf[end - 1] === 0x09)) end--;
    if (this.line === 1 && this.header) return; // the `count dim` header, read by detectFormat
    if (end === start) return; // blank line
    const where = `line ${this.line}`;
    const bytes = buf.subarray(start, end);
    if (!isUtf8(bytes)) throw bad(this.file, where, `not UTF-8 text (bytes ${hexBytes(bytes)} ...)`);
    const fields = countFields(buf, start, end);
    if (this.dim === 0) this.dim = fields - 1; // GloVe: the first row sets the dimension
    if (this.dim < 1) throw bad(this.file, where, 'a word without numbers');
    this.rows++;
    if (fields === this.dim + 1) {
      const sp = bytes.indexOf(SPACE);
      const tab = bytes.indexOf(0x09);
      const cut = sp < 0 ? tab : tab < 0 ? sp : Math.min(sp, tab);
      const word = bytes.subarray(0, cut).toString('utf8');
      if (this.wanted.has(word))
        this.keep(
          word,
          bytes
            .toString('utf8')
            .trim()
            .split(/[ \t]+/)
            .slice(1),
          where,
        );
      return;
    }
    this.unusualRow(bytes, fields, where);
  }

  /** A row whose field count is off: a dimension mismatch, or a word that holds spaces (GloVe 840B). */
  private unusualRow(bytes: Buffer, fields: number, where: string): void {
    const parts = bytes
      .toString('utf8')
      .trim()
      .split(/[ \t]+/);
    const wordParts = parts.slice(0, parts.length - this.dim);
    const mismatch = () =>
      bad(
        this.file,
        where,
        `${fields - 1} numbers, expected ${this.dim} (${this.header ? 'the header' : 'line 1'}'s dimension)`,
      );
    if (fields < this.dim + 1 || wordParts.slice(1).some(isNumber)) throw mismatch();
    const word = wordParts.join(' ');
    if (this.wanted.has(word)) this.keep(word, parts.slice(wordParts.length), where);
  }

  private keep(word: string, values: string[], where: string): void {
    const v = new Float32Array(this.dim);
    for (let i = 0; i < this.dim; i++) {
      const x = Number(values[i]);
      if (!Number.isFinite(x)) throw bad(this.file, where, `${quoteWord(values[i])} is not a number`);
      v[i] = x;
    }
    if (!this.vectors.has(word)) this.vectors.set(word, v); // the first row of a repeated word wins
  }
}

/** word2vec binary: `count dim\n`, then `word ` + dim float32 LE per row, optional newline after it. */
class BinaryParser {
  readonly dim: number;
  readonly vectors = new Map<string, Float32Array>();
  private carry: Buffer = Buffer.alloc(0);
  private headerSkipped = false;
  private rows = 0;
  private lastWord = '';

  constructor(
    private readonly file: string,
    private readonly header: { count: number; dim: number },
    private readonly wanted: ReadonlySet<string>,
  ) {
    this.dim = header.dim;
  }

  push(chunk: Buffer): void {
    let buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let pos = 0;
    if (!this.headerSkipped) {
      const nl = buf.indexOf(NEWLINE);
      if (nl < 0) {
        this.carry = Buffer.from(buf);
        return;
      }
      pos = nl + 1;
      this.headerSkipped = true;
    }
    const rowBytes = this.dim * 4;
    while (this.rows < this.header.count) {
      while (pos < buf.length && buf[pos] === NEWLINE) pos++;
      const sp = buf.indexOf(SPACE, pos);
      if (sp < 0 || sp - pos > MAX_WORD_BYTES) {
        if (buf.length - pos > MAX_WORD_BYTES)
          throw this.misaligned(`no space within ${MAX_WORD_BYTES} bytes`);
        break;
      }
      if (sp + 1 + rowBytes > buf.length) break;
      this.onRow(buf, pos, sp);
      pos = sp + 1 + rowBytes;
    }
    if (this.rows === this.header.count) this.checkTail(buf.subarray(pos));
    buf = buf.subarray(pos);
    this.carry = this.rows < this.header.count ? Buffer.from(buf) : Buffer.alloc(0);
  }

  finish(): number {
    if (this.rows < this.header.count)
      throw bad(
        this.file,
        `word ${this.rows + 1}`,
        `truncated: the header announces ${this.header.count} words of dimension ${this.dim}, the file ends inside word ${this.rows + 1}${this.lastWord ? ` (after ${quoteWord(this.lastWord)})` : ''}`,
      );
    if (this.rows === 0) throw bad(this.file, '', 'no vectors in the file');
    return this.rows;
  }

  private onRow(buf: Buffer, pos: number, sp: number): void {
    const bytes = buf.subarray(pos, sp);
    if (bytes.length === 0) throw this.misaligned('an empty word');
    if (!isUtf8(bytes)) throw this.misaligned(`not UTF-8 (bytes ${hexBytes(bytes)})`);
    const word = bytes.toString('utf8');
    this.rows++;
    this.lastWord = word;
    if (!this.wanted.has(word) || this.vectors.has(word)) return;
    const v = new Float32Array(this.dim);
    for (let i = 0; i < this.dim; i++) v[i] = buf.readFloatLE(sp + 1 + 4 * i);
    if (!v.every(Number.isFinite))
      throw bad(this.file, `word ${this.rows} ${quoteWord(word)}`, 'NaN or infinite value');
    this.vectors.set(word, v);
  }

  private misaligned(why: string): DataError {
    return bad(
      this.file,
      `word ${this.rows + 1}${this.lastWord ? ` (after ${quoteWord(this.lastWord)})` : ''}`,
      `${why}; a header dimension (${this.dim}) that does not match the rows gives this error too`,
    );
  }

  /** After the announced words only whitespace may follow. */
  private checkTail(tail: Buffer): void {
    for (const b of tail)
      if (b !== NEWLINE && b !== SPACE && b !== 0x0d)
        throw bad(
          this.file,
          `after word ${this.rows}`,
          `more bytes than the ${this.header.count} words x ${this.dim} floats the header announces (wrong header)`,
        );
  }
}
