/**
 * Encoder for the subset of TensorFlow's public protobuf schema that a SavedModel holding one plain
 * GraphDef needs. Field numbers are those of tensorflow/core/framework/{graph,node_def,attr_value,
 * tensor,tensor_shape,versions}.proto and tensorflow/core/protobuf/{saved_model,meta_graph}.proto
 * (TensorFlow 2.18, Apache-2.0). Messages are written with google-protobuf's BinaryWriter, so no
 * generated code is needed: each function below is one message type.
 */
import { BinaryWriter } from 'google-protobuf';

/** TensorFlow DataType enum values (types.proto); the C API's TF_DataType uses the same numbers. */
export const DT = { float: 1, int32: 3, string: 7, int64: 9, bool: 10, resource: 20 } as const;

export interface TensorValue {
  dtype: number;
  shape: number[];
  /** Little-endian bytes of the values, row-major (TensorProto.tensor_content). */
  content: Uint8Array;
}

export type AttrValue =
  | { s: string }
  | { i: number }
  | { f: number }
  | { b: boolean }
  | { type: number }
  | { shape: number[] }
  | { tensor: TensorValue }
  | { list: { i?: number[]; f?: number[]; b?: boolean[]; type?: number[]; s?: string[] } };

export interface NodeDef {
  name: string;
  op: string;
  /** "node" or "node:k" for output k > 0. */
  input: string[];
  attr: Record<string, AttrValue>;
}

function shapeProto(shape: number[], w: BinaryWriter): void {
  for (const size of shape) w.writeMessage(2, size, (s, dw) => dw.writeInt64(1, s)); // Dim.size
}

function tensorProto(t: TensorValue, w: BinaryWriter): void {
  w.writeEnum(1, t.dtype);
  w.writeMessage(2, t.shape, shapeProto);
  w.writeBytes(4, t.content);
}

function listValue(l: Extract<AttrValue, { list: unknown }>['list'], w: BinaryWriter): void {
  for (const s of l.s ?? []) w.writeBytes(2, new TextEncoder().encode(s));
  if (l.i?.length) w.writePackedInt64(3, l.i);
  if (l.f?.length) w.writePackedFloat(4, l.f);
  if (l.b?.length) w.writePackedBool(5, l.b);
  if (l.type?.length) w.writePackedEnum(6, l.type);
}

function attrValue(a: AttrValue, w: BinaryWriter): void {
  if ('list' in a) w.writeMessage(1, a.list, listValue);
  else if ('s' in a) w.writeBytes(2, new TextEncoder().encode(a.s));
  else if ('i' in a) w.writeInt64(3, a.i);
  else if ('f' in a) w.writeFloat(4, a.f);
  else if ('b' in a) w.writeBool(5, a.b);
  else if ('type' in a) w.writeEnum(6, a.type);
  else if ('shape' in a) w.writeMessage(7, a.shape, shapeProto);
  else w.writeMessage(8, a.tensor, tensorProto);
}

function nodeDef(n: NodeDef, w: BinaryWriter): void {
  w.writeString(1, n.name);
  w.writeString(2, n.op);
  for (const i of n.input) w.writeString(3, i);
  for (const [key, value] of Object.entries(n.attr)) {
    // map<string, AttrValue> is a repeated entry message {key = 1, value = 2}.
    w.writeMessage(5, {}, (_v, ew) => {
      ew.writeString(1, key);
      ew.writeMessage(2, value, attrValue);
    });
  }
}

/** GraphDef producer version written (TF_GRAPH_DEF_VERSION of TensorFlow 2.18). */
export const GRAPH_PRODUCER = 1882;

function graphDef(nodes: NodeDef[], w: BinaryWriter): void {
  for (const n of nodes) w.writeMessage(1, n, nodeDef);
  w.writeMessage(4, GRAPH_PRODUCER, (p, vw) => vw.writeInt32(1, p)); // VersionDef.producer
}

/** saved_model.pb bytes: SavedModel { schema version 1, one MetaGraphDef { tags, graph_def } }. */
export function encodeSavedModel(nodes: NodeDef[], tags: string[]): Uint8Array {
  const w = new BinaryWriter();
  w.writeInt64(1, 1);
  w.writeMessage(2, {}, (_m, mw) => {
    mw.writeMessage(1, tags, (t, iw) => {
      for (const tag of t) iw.writeString(4, tag); // MetaInfoDef.tags
    });
    mw.writeMessage(2, nodes, graphDef);
  });
  return w.getResultBuffer();
}
