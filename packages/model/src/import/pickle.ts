/**
 * A restricted unpickler for PyTorch checkpoints, in the spirit of `torch.load(weights_only=True)`:
 * it executes nothing from the file. It knows the opcodes that `torch.save` emits (protocols 2-5) and
 * resolves only an allow-list of globals (OrderedDict, the tensor/parameter rebuild functions, the
 * storage classes, torch.Size, `_codecs.encode` for protocol-2 bytes). Any other GLOBAL, REDUCE
 * target, BUILD target or object-creating opcode is an error naming it, raised before anything
 * could run. Persistent ids (tensor storages) are handed to a caller-supplied loader.
 *
 * One file on purpose: a self-contained reader of the pickle protocol (one opcode switch and its stack
 * machine); nothing else imports its parts.
 */

export class PickleError extends Error {}

/** Element type of a storage (torch.<Name>Storage). */
export type StorageDType =
  'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export const STORAGE_CLASSES: Record<string, StorageDType> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

export const ITEM_SIZE: Record<StorageDType, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** dict / OrderedDict; keys are Python str or int (anything else is an error). */
export class PyDict {
  readonly map = new Map<string | number, PyValue>();
  constructor(readonly ordered: boolean) {}
}

export class StorageClass {
  constructor(readonly dtype: StorageDType) {}
}

/** What a persistent-id loader returns for a storage; `ref` is opaque to the unpickler. */
export class StorageRef {
  constructor(
    readonly dtype: StorageDType,
    readonly numel: number,
    readonly ref: unknown,
  ) {}
}

/** A tensor view on a storage (torch._utils._rebuild_tensor[_v2]); values are read later. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** An allow-listed callable, named as in the file. */
class PyGlobal {
  constructor(readonly qualname: string) {}
}

class Mark {}
const MARK = new Mark();

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | StorageClass
  | StorageRef
  | TensorRef
  | PyGlobal;

const REBUILD_TENSOR = ['torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor'];
const REBUILD_PARAM = ['torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state'];
const CALLABLES = new Set([
  'collections.OrderedDict',
  'torch.Size',
  '_codecs.encode',
  ...REBUILD_TENSOR,
  ...REBUILD_PARAM,
]);

function resolveGlobal(module: string, name: string): PyValue {
  const q = `${module}.${name}`;
  if (module === 'torch' && name in STORAGE_CLASSES) return new StorageClass(STORAGE_CLASSES[name]!);
  if (CALLABLES.has(q)) return new PyGlobal(q);
  throw new PickleError(
    `pickle GLOBAL ${q} is not allowed (a checkpoint may only hold tensors, dicts, lists and numbers)`,
  );
}

function toInt(v: PyValue, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER))
    return Number(v);
  throw new PickleError(`${what}: expected an integer`);
}

function intList(v: PyValue, what: string): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
  if (!items) throw new PickleError(`${what}: expected a tuple of integers`);
  return items.map((x) => toInt(x, what));
}

function callAllowed(fn: PyGlobal, args: PyValue[]): PyValue {
  const q = fn.qualname;
  if (q === 'collections.OrderedDict') {
    if (args.length !== 0) throw new PickleError('OrderedDict(...) with arguments is not supported');
    return new PyDict(true);
  }
  if (q === 'torch.Size') return new PyTuple(intList(args[0] ?? new PyTuple([]), 'torch.Size'));
  if (q === '_codecs.encode') {
    const [text, enc] = args;
    if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1'))
      throw new PickleError('_codecs.encode: only latin1 text is supported');
    return Uint8Array.from(text, (ch) => ch.charCodeAt(0) & 0xff);
  }
  if (REBUILD_TENSOR.includes(q)) {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef)) throw new PickleError(`${q}: first argument is not a storage`);
    return new TensorRef(
      storage,
      toInt(offset ?? null, 'storage offset'),
      intList(size ?? null, 'size'),
      intList(stride ?? null, 'stride'),
    );
  }
  if (REBUILD_PARAM.includes(q)) {
    if (!(args[0] instanceof TensorRef)) throw new PickleError(`${q}: first argument is not a tensor`);
    return args[0];
  }
  throw new PickleError(`pickle REDUCE of ${q} is not allowed`);
}

export interface UnpickleOptions {
  /** Turns a persistent id (torch: a tuple ('storage', StorageClass, key, location, numel, ...)) into a value. */
  persistentLoad: (pid: PyValue) => PyValue;
}

/**
 * Parses one pickle starting at `start`; returns the value and the offset just past its STOP.
 * Errors say which opcode at which byte offset failed.
 */
export function unpickle(buf: Uint8Array, opts: UnpickleOptions, start = 0): { value: PyValue; end: number } {
  const r = new PickleReader(buf, opts, start);
  const value = r.run();
  return { value, end: r.pos };
}

class PickleReader {
  pos: number;
  private stack: (PyValue | Mark)[] = [];
  private marks: number[] = [];
  private memo = new Map<number, PyValue>();
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    private readonly opts: UnpickleOptions,
    start: number,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): number {
    const p = this.pos;
    if (p + n > this.buf.length) throw new PickleError(`pickle truncated at byte ${p}`);
    this.pos += n;
    return p;
  }
  private u8(): number {
    return this.buf[this.need(1)]!;
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private bytes(n: number): Uint8Array {
    const p = this.need(n);
    return this.buf.subarray(p, p + n);
  }
  private text(n: number): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes(n));
  }
  private line(): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) throw new PickleError(`pickle truncated at byte ${this.pos}`);
    const s = new TextDecoder('latin1').decode(this.buf.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
  private pop(): PyValue {
    if (this.stack.length === 0) throw new PickleError(`pickle stack underflow at byte ${this.pos}`);
    const v = this.stack.pop()!;
    if (v instanceof Mark) throw new PickleError(`unexpected MARK at byte ${this.pos}`);
    return v;
  }
  private top(): PyValue {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined || v instanceof Mark)
      throw new PickleError(`pickle stack underflow at byte ${this.pos}`);
    return v;
  }
  private popMark(): PyValue[] {
    const m = this.marks.pop();
    if (m === undefined) throw new PickleError(`pickle MARK missing at byte ${this.pos}`);
    const items = this.stack.splice(m) as PyValue[];
    items.shift(); // the mark itself
    return items;
  }
  private memoGet(i: number): PyValue {
    if (!this.memo.has(i)) throw new PickleError(`pickle memo ${i} missing at byte ${this.pos}`);
    return this.memo.get(i)!;
  }
  private setItem(d: PyValue, k: PyValue, v: PyValue): void {
    if (!(d instanceof PyDict)) throw new PickleError(`SETITEM on a non-dict at byte ${this.pos}`);
    if (typeof k !== 'string' && typeof k !== 'number')
      throw new PickleError(`dict key of unsupported type at byte ${this.pos}`);
    d.map.set(k, v);
  }
  private append(l: PyValue, items: PyValue[]): void {
    if (!Array.isArray(l)) throw new PickleError(`APPEND to a non-list at byte ${this.pos}`);
    l.push(...items);
  }
  private push(v: PyValue): void {
    this.stack.push(v);
  }

  run(): PyValue {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: // PROTO
          if (this.u8() > 5) throw new PickleError('unsupported pickle protocol');
          break;
        case 0x95: // FRAME
          this.need(8);
          break;
        case 0x2e: // STOP
          return this.pop();
        case 0x28: // MARK
          this.marks.push(this.stack.length);
          this.stack.push(MARK);
          break;
        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88: // NEWTRUE
          this.push(true);
          break;
        case 0x89: // NEWFALSE
          this.push(false);
          break;
        case 0x4a: // BININT
          this.push(this.view.getInt32(this.need(4), true));
          break;
        case 0x4b: // BININT1
          this.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.push(this.u16());
          break;
        case 0x8a: // LONG1
          this.push(this.long(this.u8()));
          break;
        case 0x8b: // LONG4
          this.push(this.long(this.u32()));
          break;
        case 0x47: // BINFLOAT
          this.push(this.view.getFloat64(this.need(8), false));
          break;
        case 0x58: // BINUNICODE
          this.push(this.text(this.u32()));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.text(this.u8()));
          break;
        case 0x54: // BINSTRING
          this.push(new TextDecoder('latin1').decode(this.bytes(this.u32())));
          break;
        case 0x55: // SHORT_BINSTRING
          this.push(new TextDecoder('latin1').decode(this.bytes(this.u8())));
          break;
        case 0x42: // BINBYTES
          this.push(this.bytes(this.u32()).slice());
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.bytes(this.u8()).slice());
          break;
        case 0x29: // EMPTY_TUPLE
          this.push(new PyTuple([]));
          break;
        case 0x85: // TUPLE1
          this.push(new PyTuple([this.pop()]));
          break;
        case 0x86: {
          // TUPLE2
          const b = this.pop();
          this.push(new PyTuple([this.pop(), b]));
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = this.pop();
          const b = this.pop();
          this.push(new PyTuple([this.pop(), b, c]));
          break;
        }
        case 0x74: // TUPLE
          this.push(new PyTuple(this.popMark()));
          break;
        case 0x5d: // EMPTY_LIST
          this.push([]);
          break;
        case 0x6c: // LIST
          this.push(this.popMark());
          break;
        case 0x7d: // EMPTY_DICT
          this.push(new PyDict(false));
          break;
        case 0x64: {
          // DICT
          const items = this.popMark();
          const d = new PyDict(false);
          for (let i = 0; i + 1 < items.length; i += 2) this.setItem(d, items[i]!, items[i + 1]!);
          this.push(d);
          break;
        }
        case 0x61: {
          // APPEND
          const v = this.pop();
          this.append(this.top(), [v]);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          this.append(this.top(), items);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItem(this.top(), k, v);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          const d = this.top();
          for (let i = 0; i + 1 < items.length; i += 2) this.setItem(d, items[i]!, items[i + 1]!);
          break;
        }
        case 0x71: // BINPUT
          this.memo.set(this.u8(), this.top());
          break;
        case 0x72: // LONG_BINPUT
          this.memo.set(this.u32(), this.top());
          break;
        case 0x94: // MEMOIZE
          this.memo.set(this.memo.size, this.top());
          break;
        case 0x68: // BINGET
          this.push(this.memoGet(this.u8()));
          break;
        case 0x6a: // LONG_BINGET
          this.push(this.memoGet(this.u32()));
          break;
        case 0x63: {
          // GLOBAL "module\nname\n"
          const module = this.line();
          this.push(resolveGlobal(module, this.line()));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string')
            throw new PickleError(`STACK_GLOBAL without names at byte ${at}`);
          this.push(resolveGlobal(module, name));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.pop();
          const fn = this.pop();
          if (!(fn instanceof PyGlobal) || !(args instanceof PyTuple))
            throw new PickleError(`pickle REDUCE of a non-callable at byte ${at}`);
          this.push(callAllowed(fn, args.items));
          break;
        }
        case 0x62: {
          // BUILD: the state of an OrderedDict (state_dict._metadata) or of a parameter; dropped.
          this.pop();
          const target = this.top();
          if (!(target instanceof PyDict) && !(target instanceof TensorRef))
            throw new PickleError(`pickle BUILD on an object that is not a dict or tensor at byte ${at}`);
          break;
        }
        case 0x51: // BINPERSID
          this.push(this.opts.persistentLoad(this.pop()));
          break;
        default:
          throw new PickleError(
            `pickle opcode 0x${op.toString(16).padStart(2, '0')} (${JSON.stringify(String.fromCharCode(op))}) at byte ${at} is not allowed in a weights file`,
          );
      }
    }
  }

  private long(n: number): number | bigint {
    const b = this.bytes(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
}
