/** Word-vector files in the three formats, written by the tests (values exact in float32). */
import * as fs from 'node:fs';

export type Vocab = Record<string, number[]>;

export function gloveText(vocab: Vocab): string {
  return Object.entries(vocab)
    .map(([w, v]) => `${w} ${v.join(' ')}\n`)
    .join('');
}

/** fastText `.vec`: a `count dim` header, rows with a trailing space as fastText writes them. */
export function fastTextVec(vocab: Vocab): string {
  const rows = Object.entries(vocab);
  return `${rows.length} ${rows[0][1].length}\n${rows.map(([w, v]) => `${w} ${v.join(' ')} \n`).join('')}`;
}

export function word2vecBinary(vocab: Vocab, opts: { newline?: boolean; headerDim?: number } = {}): Buffer {
  const rows = Object.entries(vocab);
  const dim = rows[0][1].length;
  const parts: Buffer[] = [Buffer.from(`${rows.length} ${opts.headerDim ?? dim}\n`)];
  for (const [w, v] of rows) {
    const floats = Buffer.alloc(4 * v.length);
    v.forEach((x, i) => floats.writeFloatLE(x, 4 * i));
    parts.push(Buffer.from(`${w} `, 'utf8'), floats);
    if (opts.newline !== false) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** `n` words `w0..w{n-1}` of dimension `dim` with values k/8 (exact in float32 and in text). */
export function bigVocab(n: number, dim: number): Vocab {
  const vocab: Vocab = {};
  for (let i = 0; i < n; i++)
    vocab[`w${i}`] = Array.from({ length: dim }, (_, j) => (((i * 7 + j * 3) % 33) - 16) / 8);
  return vocab;
}

export function write(file: string, data: string | Buffer): string {
  fs.writeFileSync(file, data);
  return file;
}
