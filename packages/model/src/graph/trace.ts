/**
 * Records one training step, run eagerly on the native backend, as a TensorFlow GraphDef.
 *
 * tfjs-node sends every kernel through `binding.executeOp(name, attrs, inputIds, numOutputs)` and
 * every tensor made from JavaScript values through `binding.createTensor(shape, dtype, values)`. While
 * a step runs, both are wrapped: each kernel becomes a NodeDef (its attributes as tfjs passed them),
 * each tensor made from JS values inside the step a Const node. Tensors that existed before the step
 * become Placeholders: engine variables (parameters, buffers, optimiser slots) by name, the prepared
 * batch by feed name, and per-step host scalars (host.ts) by their name. Outputs are the step's loss
 * and terms, and the new value of every variable the step assigned.
 *
 * The trace refuses (returns a reason, runs nothing further) when the step reads a tensor back to
 * JavaScript (its graph would depend on data), runs a stateful or random kernel (a graph would not
 * repeat it the same way), or touches a tensor it cannot name. Every variable is restored afterwards:
 * a trace is a probe and changes no state.
 */
import * as tf from '@tensorflow/tfjs-core';
import { HostFn, StepClock, setHostRecorder } from './host';
import { AttrValue, DT, NodeDef, TensorValue, encodeSavedModel } from './proto';

export type InputRole =
  { kind: 'var'; name: string } | { kind: 'feed'; name: string } | { kind: 'host'; name: string; fn: HostFn };

export interface TracedStep {
  nodes: NodeDef[];
  /** Placeholder node names with what feeds them, in node order. */
  inputs: { node: string; role: InputRole }[];
  /** Output key ('out/<name>', 'side/<var>', 'update/<var>') -> fetch name "node:k". */
  fetches: Map<string, string>;
  /** Identity of the graph: equal for two traces that would run the same computation. */
  fingerprint: string;
}

export interface TraceSpec {
  feeds: Record<string, tf.Tensor>;
  clock: StepClock;
  /** The step up to, not including, the optimiser update; returns the tensors to output. */
  forward(): Record<string, tf.Tensor>;
  /** The optimiser update (assigns variables). */
  update(): void;
}

interface Meta {
  id: number;
  shape: number[];
  dtype: number;
}

interface Binding {
  executeOp(
    name: string,
    attrs: { name: string; type: number; value: unknown }[],
    ids: number[],
    n: number,
  ): Meta[];
  createTensor(shape: number[], dtype: number, values: ArrayBufferView): number;
  tensorDataSync(id: number): unknown;
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_SHAPE: number;
}

interface NodeBackend {
  binding: Binding;
  getInputTensorIds(ts: tf.Tensor[]): number[];
  readSync(dataId: object): unknown;
  read(dataId: object): Promise<unknown>;
}

/** Kernels a graph cannot repeat as the eager step ran them: state outside the traced tensors, or
 *  random draws (stateless random ops are fine). */
const REFUSED_OP =
  /^(VarHandleOp|ReadVariableOp|AssignVariableOp|DestroyResourceOp|Resource.*|Assign.*|(?!Stateless).*Random.*|Multinomial|.*Summary.*)$/;

/** Type attributes that tfjs-node leaves to eager inference (it passes no attributes for these
 *  kernels): attribute name per input, filled from that input's dtype. */
const INFERRED_TYPE_ATTRS: Record<string, (string | null)[]> = { ExpandDims: ['T', 'Tdim'] };

/** tfjs-node kernels that read an input back only to validate it (GatherV2: indices in range, which
 *  TensorFlow's own kernel checks as well inside the graph): such reads do not shape the graph. */
const VALIDATING_READ = /tfjs-node[\\/]dist[\\/]kernels[\\/]GatherV2\.js/;

const DTYPE: Record<string, number> = { float32: DT.float, int32: DT.int32, bool: DT.bool };

class Refusal extends Error {}

function convertAttr(b: Binding, a: { type: number; value: unknown }): AttrValue {
  const v = a.value;
  switch (a.type) {
    case b.TF_ATTR_STRING:
      return { s: String(v) };
    case b.TF_ATTR_INT:
      return Array.isArray(v) ? { list: { i: v as number[] } } : { i: v as number };
    case b.TF_ATTR_FLOAT:
      return Array.isArray(v) ? { list: { f: v as number[] } } : { f: v as number };
    case b.TF_ATTR_BOOL:
      return Array.isArray(v) ? { list: { b: v as boolean[] } } : { b: v as boolean };
    case b.TF_ATTR_TYPE:
      return { type: v as number };
    case b.TF_ATTR_SHAPE:
      return { shape: v as number[] };
    default:
      throw new Refusal(`attribute type ${a.type} has no graph form`);
  }
}

function bytesOf(values: ArrayBufferView): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
}

/** Builds the GraphDef while the step runs: one instance per trace. */
class Recorder {
  readonly nodes: NodeDef[] = [];
  readonly inputs: { node: string; role: InputRole }[] = [];
  /** binding tensor id -> "node" / "node:k". */
  private readonly ref = new Map<number, string>();
  private readonly consts = new Map<number, TensorValue>();
  /** TensorFlow dtype of every id seen (for inferred type attributes). */
  private readonly dtypes = new Map<number, number>();
  /** ids that existed before the step, with what they are; null = two roles share it. */
  private readonly roles = new Map<
    number,
    { role: InputRole; meta: { shape: number[]; dtype: number } } | null
  >();
  private nConst = 0;
  refusal: string | null = null;

  constructor(private readonly b: Binding) {}

  addRole(id: number, role: InputRole, t: { shape: number[]; dtype: string }): void {
    const dtype = DTYPE[t.dtype];
    if (dtype === undefined) return; // never a float/int input of a traced kernel
    this.roles.set(id, this.roles.has(id) ? null : { role, meta: { shape: t.shape.slice(), dtype } });
    this.dtypes.set(id, dtype);
  }

  created(id: number, shape: number[], dtype: number, values: ArrayBufferView): void {
    if (dtype === DT.string) this.refuse('a string tensor was created inside the step');
    this.consts.set(id, { dtype, shape: shape.slice(), content: bytesOf(values) });
    this.dtypes.set(id, dtype);
  }

  host(id: number, name: string, fn: HostFn): void {
    this.consts.delete(id);
    const node = `h${this.inputs.length}`;
    this.nodes.push({
      name: node,
      op: 'Placeholder',
      input: [],
      attr: { dtype: { type: DT.float }, shape: { shape: [] } },
    });
    this.inputs.push({ node, role: { kind: 'host', name, fn } });
    this.ref.set(id, node);
  }

  refuse(reason: string): void {
    this.refusal ??= reason;
  }

  /** The graph reference of a tensor id, adding its Const or Placeholder node on first use. */
  resolve(id: number): string {
    const known = this.ref.get(id);
    if (known !== undefined) return known;
    const c = this.consts.get(id);
    let name: string;
    if (c) {
      name = `c${this.nConst++}`;
      this.nodes.push({
        name,
        op: 'Const',
        input: [],
        attr: { dtype: { type: c.dtype }, value: { tensor: c } },
      });
    } else {
      const r = this.roles.get(id);
      if (r === undefined)
        throw new Refusal(`the step used a tensor made before it that is not a variable or feed`);
      if (r === null) throw new Refusal(`two variables share one tensor`);
      name = `p${this.inputs.length}`;
      const attr = { dtype: { type: r.meta.dtype }, shape: { shape: r.meta.shape } };
      this.nodes.push({ name, op: 'Placeholder', input: [], attr });
      this.inputs.push({ node: name, role: r.role });
    }
    this.ref.set(id, name);
    return name;
  }

  op(
    name: string,
    attrs: { name: string; type: number; value: unknown }[],
    ids: number[],
    out: Meta[],
  ): void {
    if (this.refusal) return;
    try {
      if (REFUSED_OP.test(name)) throw new Refusal(`the step runs ${name}, which a graph cannot repeat`);
      const node = `n${this.nodes.length}`;
      const attr: Record<string, AttrValue> = {};
      for (const a of attrs) attr[a.name] = convertAttr(this.b, a);
      INFERRED_TYPE_ATTRS[name]?.forEach((a, k) => {
        const dtype = this.dtypes.get(ids[k]!);
        if (a && !(a in attr) && dtype !== undefined) attr[a] = { type: dtype };
      });
      this.nodes.push({ name: node, op: name, input: ids.map((i) => this.resolve(i)), attr });
      out.forEach((m, k) => {
        this.ref.set(m.id, k === 0 ? node : `${node}:${k}`);
        this.dtypes.set(m.id, m.dtype);
      });
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      this.refuse(e.message);
    }
  }

  /** Fetch name of an output id, or null when it is a tensor from before the step. */
  fetch(id: number): string | null {
    if (this.roles.has(id) && !this.ref.has(id)) return null;
    const r = this.resolve(id);
    if (this.inputs.some((i) => i.node === r)) return null;
    return r.includes(':') ? r : `${r}:0`;
  }
}

function nodeBackend(): NodeBackend {
  return tf.backend() as unknown as NodeBackend;
}

function idOf(t: tf.Tensor): number {
  return nodeBackend().getInputTensorIds([t])[0]!;
}

/** Engine variables by name (parameters, buffers, optimiser slots of every live model). */
function variables(): [string, tf.Variable][] {
  return Object.entries(tf.engine().registeredVariables);
}

/**
 * Runs `spec` once eagerly while recording it, restores every variable it assigned, and returns the
 * graph, or `{ refused }` with a one-line reason.
 */
export function traceStep(spec: TraceSpec): TracedStep | { refused: string } {
  const be = nodeBackend();
  const b = be.binding;
  const rec = new Recorder(b);
  const saved = new Map<tf.Variable, tf.Tensor>();
  for (const [name, v] of variables()) {
    rec.addRole(idOf(v), { kind: 'var', name }, v);
    saved.set(v, tf.keep(v.clone()));
  }
  for (const [name, t] of Object.entries(spec.feeds)) rec.addRole(idOf(t), { kind: 'feed', name }, t);
  // The addon's exports are read-only: the backend gets a stand-in whose prototype is the binding.
  const orig = { readSync: be.readSync, read: be.read };
  be.binding = Object.create(b, {
    executeOp: {
      value: (name: string, attrs: Parameters<Binding['executeOp']>[1], ids: number[], n: number) => {
        const out = b.executeOp(name, attrs, ids, n);
        rec.op(name, attrs, ids, out);
        return out;
      },
    },
    createTensor: {
      value: (shape: number[], dtype: number, values: ArrayBufferView) => {
        const id = b.createTensor(shape, dtype, values);
        rec.created(id, shape, dtype, values);
        return id;
      },
    },
  }) as Binding;
  be.readSync = (dataId) => {
    if (!VALIDATING_READ.test(new Error().stack ?? ''))
      rec.refuse('the step reads a tensor back to JavaScript');
    return orig.readSync.call(be, dataId);
  };
  be.read = (dataId) => {
    rec.refuse('the step reads a tensor back to JavaScript');
    return orig.read.call(be, dataId);
  };
  setHostRecorder({
    record(name, value, fn, t) {
      const again = fn(spec.clock);
      if (!Object.is(again, value))
        rec.refuse(`host value "${name}" is ${value} but its step function gives ${again}`);
      rec.host(idOf(t), name, fn);
    },
  });
  const fetches = new Map<string, string>();
  try {
    tf.tidy(() => {
      const outs = spec.forward();
      const afterForward = new Map<tf.Variable, tf.Tensor>();
      for (const [, v] of variables()) afterForward.set(v, tf.keep(v.clone()));
      const outIds = Object.entries(outs).map(([k, t]) => [k, idOf(t)] as const);
      spec.update();
      if (rec.refusal) return;
      for (const [k, id] of outIds) {
        const f = rec.fetch(id);
        if (f === null) rec.refuse(`output "${k}" is a tensor from before the step`);
        else fetches.set(`out/${k}`, f);
      }
      for (const [name, v] of variables()) {
        const fwd = afterForward.get(v);
        if (!fwd) continue;
        if (fwd.dataId !== saved.get(v)?.dataId) setFetch(rec, fetches, `side/${name}`, idOf(fwd));
        if (v.dataId !== fwd.dataId) setFetch(rec, fetches, `update/${name}`, idOf(v));
        fwd.dispose();
      }
    });
  } finally {
    Object.assign(be, { binding: b, readSync: orig.readSync, read: orig.read });
    setHostRecorder(null);
    for (const [v, t] of saved) {
      if (v.dataId !== t.dataId && !v.isDisposed) v.assign(t);
      t.dispose();
    }
  }
  if (rec.refusal) return { refused: rec.refusal };
  const roles = rec.inputs.map((i) => `${i.node}=${i.role.kind}/${i.role.name}`).join(',');
  const outs = [...fetches].map(([k, f]) => `${k}=${f}`).join(',');
  const graph = Buffer.from(encodeSavedModel(rec.nodes, [])).toString('base64');
  return { nodes: rec.nodes, inputs: rec.inputs, fetches, fingerprint: `${roles}|${outs}|${graph}` };
}

function setFetch(rec: Recorder, fetches: Map<string, string>, key: string, id: number): void {
  const f = rec.fetch(id);
  if (f === null) rec.refuse(`${key} is assigned a tensor from before the step`);
  else fetches.set(key, f);
}
