/**
 * Shard files: Arrow IPC *file* format, one schema for every dataset (see README "Shard schema").
 * Dictionary columns use fixed dictionaries (domains, classes, splits) written once per file, so
 * indices mean the same in every shard. Bytes depend only on the rows: no timestamps, no paths.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import {
  AsyncByteQueue,
  Binary,
  Data,
  Dictionary,
  Field,
  Int32,
  makeData,
  makeVector,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchReader,
  Schema,
  Struct,
  Utf8,
  type Vector,
} from 'apache-arrow';
import { createAtomicFile, type AtomicFile } from './io';
import { DOMAINS, SPLIT_NAMES, type Domain, type SplitName } from './types';

export interface ShardRow {
  id: string;
  domain: Domain;
  category: string;
  categoryIndex: number;
  instance: string;
  split: SplitName;
  image: Uint8Array;
  height: number;
  width: number;
  source: string;
}

const DICT_DOMAIN = 0;
const DICT_CATEGORY = 1;
const DICT_SPLIT = 2;

export function shardSchema(): Schema {
  const dict = (id: number) => new Dictionary(new Utf8(), new Int32(), id, false);
  return new Schema([
    new Field('id', new Utf8(), false),
    new Field('domain', dict(DICT_DOMAIN), false),
    new Field('category', dict(DICT_CATEGORY), false),
    new Field('category_index', new Int32(), false),
    new Field('instance', new Utf8(), false),
    new Field('split', dict(DICT_SPLIT), false),
    new Field('image', new Binary(), false),
    new Field('height', new Int32(), false),
    new Field('width', new Int32(), false),
    new Field('channels', new Int32(), false),
    new Field('source', new Utf8(), false),
  ]);
}

const encoder = new TextEncoder();

function utf8Data(values: string[]): Data<Utf8> {
  const parts = values.map((v) => encoder.encode(v));
  const offsets = new Int32Array(values.length + 1);
  for (let i = 0; i < parts.length; i++) offsets[i + 1] = offsets[i] + parts[i].length;
  const bytes = new Uint8Array(offsets[values.length]);
  for (let i = 0; i < parts.length; i++) bytes.set(parts[i], offsets[i]);
  return makeData({
    type: new Utf8(),
    length: values.length,
    nullCount: 0,
    valueOffsets: offsets,
    data: bytes,
  });
}

function int32Data(values: Int32Array): Data<Int32> {
  return makeData({ type: new Int32(), length: values.length, nullCount: 0, data: values });
}

/** A sink that hands the writer's chunks over synchronously (no async queue in between). */
class CaptureSink extends AsyncByteQueue {
  chunks: Uint8Array[] = [];
  override write(value: Uint8Array): void {
    if (value.byteLength > 0) this.chunks.push(value);
  }
  take(): Uint8Array[] {
    const out = this.chunks;
    this.chunks = [];
    return out;
  }
}

/**
 * Writes record batches into one shard file, hashing the bytes as they are written. Each
 * `writeBatch` returns once its bytes are in the file, so the image buffer is reused for the next
 * batch (fresh 10-40 MB allocations per batch cost more than the copy on small VMs).
 */
export class ShardWriter {
  private readonly schema = shardSchema();
  private readonly dicts: { domain: Vector<Utf8>; category: Vector<Utf8>; split: Vector<Utf8> };
  private readonly classIndex: Map<string, number>;
  private readonly writer = new RecordBatchFileWriter();
  private readonly sink = new CaptureSink();
  private readonly hash = createHash('sha256');
  private imageBuffer = new Uint8Array(0);
  private bytes = 0;
  rows = 0;

  private constructor(
    private readonly out: AtomicFile,
    classes: string[],
  ) {
    this.dicts = {
      domain: makeVector(utf8Data([...DOMAINS])),
      category: makeVector(utf8Data(classes)),
      split: makeVector(utf8Data([...SPLIT_NAMES])),
    };
    this.classIndex = new Map(classes.map((c, i) => [c, i]));
    this.writer.reset(this.sink, this.schema);
  }

  static async create(file: string, classes: string[]): Promise<ShardWriter> {
    return new ShardWriter(await createAtomicFile(file), classes);
  }

  private async flush(): Promise<void> {
    for (const chunk of this.sink.take()) {
      this.hash.update(chunk);
      this.bytes += chunk.byteLength;
      await this.out.write(chunk);
    }
  }

  /** Image column values in the reusable buffer. */
  private binaryImages(rows: ShardRow[]): Data<Binary> {
    const offsets = new Int32Array(rows.length + 1);
    for (let i = 0; i < rows.length; i++) offsets[i + 1] = offsets[i] + rows[i].image.length;
    const total = offsets[rows.length];
    if (this.imageBuffer.length < total) this.imageBuffer = new Uint8Array(total);
    const bytes = this.imageBuffer.subarray(0, total);
    for (let i = 0; i < rows.length; i++) bytes.set(rows[i].image, offsets[i]);
    return makeData({
      type: new Binary(),
      length: rows.length,
      nullCount: 0,
      valueOffsets: offsets,
      data: bytes,
    });
  }

  /** Appends one record batch (all rows must share height and width); resolves once written. */
  async writeBatch(rows: ShardRow[]): Promise<void> {
    if (rows.length === 0) return;
    const n = rows.length;
    const idx = (pick: (r: ShardRow) => number) => Int32Array.from(rows, pick);
    const dict = (id: number, indices: Int32Array, dictionary: Vector<Utf8>) =>
      makeData({
        type: new Dictionary(new Utf8(), new Int32(), id, false),
        length: n,
        nullCount: 0,
        data: indices,
        dictionary,
      });
    const children = [
      utf8Data(rows.map((r) => r.id)),
      dict(
        DICT_DOMAIN,
        idx((r) => DOMAINS.indexOf(r.domain)),
        this.dicts.domain,
      ),
      dict(
        DICT_CATEGORY,
        idx((r) => this.classIndex.get(r.category) ?? -1),
        this.dicts.category,
      ),
      int32Data(idx((r) => r.categoryIndex)),
      utf8Data(rows.map((r) => r.instance)),
      dict(
        DICT_SPLIT,
        idx((r) => SPLIT_NAMES.indexOf(r.split)),
        this.dicts.split,
      ),
      this.binaryImages(rows),
      int32Data(idx((r) => r.height)),
      int32Data(idx((r) => r.width)),
      int32Data(new Int32Array(n).fill(3)),
      utf8Data(rows.map((r) => r.source)),
    ];
    const data = makeData({ type: new Struct(this.schema.fields), length: n, nullCount: 0, children });
    this.writer.write(new RecordBatch(this.schema, data));
    this.rows += n;
    await this.flush();
    this.out.syncSoon();
  }

  /** Writes the footer into the temp file; returns the file's size and sha256. */
  async seal(): Promise<{ bytes: number; sha256: string }> {
    this.writer.finish();
    await this.flush();
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** fsync + rename into place (after `seal`). */
  async commit(): Promise<void> {
    await this.out.commit();
  }

  async abort(): Promise<void> {
    await this.out.abort();
  }
}

/** Opens a shard for random access to its record batches (the file is not read whole). */
export async function openShard(
  file: string,
): Promise<{ reader: Awaited<ReturnType<typeof openReader>>; close(): Promise<void> }> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const reader = await openReader(fh);
    return { reader, close: () => fh.close() };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

async function openReader(fh: fs.promises.FileHandle) {
  const reader = await RecordBatchReader.from(fh);
  await reader.open();
  if (!reader.isFile()) throw new Error('not an Arrow IPC file (stream format?)');
  return reader;
}

/** Column accessors for one record batch as the reader needs them. */
export interface BatchColumns {
  n: number;
  ids: string[];
  domains: Domain[];
  categories: string[];
  labels: Int32Array;
  splits: SplitName[];
  height: Int32Array;
  width: Int32Array;
  /** Bytes of row i (a view into the batch buffer). */
  image(i: number): Uint8Array;
}

function dictStrings(batch: RecordBatch, name: string): string[] {
  const col = batch.getChild(name);
  if (!col) throw new Error(`missing column ${name}`);
  const out: string[] = new Array(col.length);
  for (let i = 0; i < col.length; i++) out[i] = String(col.get(i));
  return out;
}

export function batchColumns(batch: RecordBatch): BatchColumns {
  const col = (name: string) => {
    const c = batch.getChild(name);
    if (!c) throw new Error(`missing column ${name}`);
    return c;
  };
  const int32 = (name: string) => Int32Array.from(col(name).toArray() as Int32Array);
  const img = col('image').data[0] as Data<Binary>;
  const offsets = img.valueOffsets as Int32Array;
  const values = img.values as Uint8Array;
  return {
    n: batch.numRows,
    ids: dictStrings(batch, 'id'),
    domains: dictStrings(batch, 'domain') as Domain[],
    categories: dictStrings(batch, 'category'),
    labels: int32('category_index'),
    splits: dictStrings(batch, 'split') as SplitName[],
    height: int32('height'),
    width: int32('width'),
    image: (i: number) => values.subarray(offsets[img.offset + i], offsets[img.offset + i + 1]),
  };
}
