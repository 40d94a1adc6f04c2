/**
 * A traced step as a TensorFlow session: the GraphDef goes into a SavedModel in a private temporary
 * folder, tfjs-node's binding loads it (`TF_LoadSessionFromSavedModel`: Grappler and oneDNN rewrite the
 * graph once, then each run is one `TF_SessionRun`), and the folder is removed right after loading.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomicSync } from '@sbir/core';
import * as tf from '@tensorflow/tfjs-core';
import { NodeDef, encodeSavedModel } from './proto';

interface SessionBackend {
  binding: { loadSavedModel(dir: string, tags: string): number; deleteSavedModel(id: number): void };
  runSavedModel(id: number, inputs: tf.Tensor[], infos: { name: string }[], outputs: string[]): tf.Tensor[];
}

const TAG = 'sbir-train-step';

export class GraphSession {
  private id: number | null;

  constructor(nodes: NodeDef[]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-graph-'));
    try {
      writeFileAtomicSync(path.join(dir, 'saved_model.pb'), encodeSavedModel(nodes, [TAG]));
      this.id = backend().binding.loadSavedModel(dir, TAG);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Feeds `inputs` to the Placeholders named in `inputNodes`, returns the `fetches` ("node:k"). */
  run(inputNodes: string[], inputs: tf.Tensor[], fetches: string[]): tf.Tensor[] {
    if (this.id === null) throw new Error('graph session has been disposed');
    const infos = inputNodes.map((n) => ({ name: `${n}:0` }));
    return backend().runSavedModel(this.id, inputs, infos, fetches);
  }

  dispose(): void {
    if (this.id === null) return;
    backend().binding.deleteSavedModel(this.id);
    this.id = null;
  }
}

function backend(): SessionBackend {
  return tf.backend() as unknown as SessionBackend;
}
