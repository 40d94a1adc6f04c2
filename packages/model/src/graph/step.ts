/**
 * `GraphStep`: runs a training step as one TensorFlow graph when it can, else says why (one line) so
 * the trainer runs it eagerly. Per input signature (the shapes of the feeds) it traces the step twice,
 * at step clocks 0 and 1 and with the batch order reversed for the second trace; the two traces must
 * give the same graph (same kernels, attributes and constants), which shows the step depends on the
 * step number and the batch only through the graph's inputs. The probes start from the same state and
 * restore it, so whether a cell trains through the graph never depends on where it (re)started.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasGroupedConvGradKernel } from '../conv';
import { StepClock } from './host';
import { GraphSession } from './session';
import { TraceSpec, TracedStep, traceStep } from './trace';

export type StepMode = 'graph' | 'eager';
export const STEP_MODES: readonly StepMode[] = ['graph', 'eager'];

/** The outputs of one graph run, by key: 'out/<name>', 'side/<var>', 'update/<var>'. */
export type StepOutputs = Map<string, tf.Tensor>;

interface Compiled {
  session: GraphSession;
  traced: TracedStep;
}

const PROBE_CLOCKS: [StepClock, StepClock] = [
  { step: 0, iterations: 1 },
  { step: 1, iterations: 2 },
];

function reversed(feeds: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) out[k] = t.rank > 0 && t.shape[0]! > 1 ? tf.reverse(t, 0) : t;
  return out;
}

/** How the last step ran: through its graph, or eagerly and why. */
export type StepStatus = { mode: 'graph' } | { mode: 'eager'; reason: string };

/** TensorFlow's first error line, with the kernel of the node it names (nodes are named n<k>). */
function explain(e: Error, traced: TracedStep): string {
  const line = e.message.split('\n')[0]!.replace(/:$/, '');
  const node = /\{\{node (\w+)\}\}/.exec(e.message)?.[1];
  const op = traced.nodes.find((n) => n.name === node)?.op;
  return op ? `${line}: kernel ${op}` : line;
}

export class GraphStep {
  private readonly compiled = new Map<string, Compiled | { refused: string }>();
  status: StepStatus | null = null;

  /**
   * Runs the step for `feeds` at `clock` through its graph; returns null (and the reason via
   * `fallback`) when this signature cannot run as a graph. `spec` builds the eager step for tracing.
   */
  run(
    feeds: Record<string, tf.Tensor>,
    clock: StepClock,
    spec: (feeds: Record<string, tf.Tensor>, clock: StepClock) => Omit<TraceSpec, 'feeds' | 'clock'>,
    fallback: (reason: string) => void,
  ): StepOutputs | null {
    const sig = Object.entries(feeds)
      .map(([k, t]) => `${k}:${t.dtype}[${t.shape.join(',')}]`)
      .join(';');
    let c = this.compiled.get(sig);
    if (c === undefined) {
      c = this.compile(feeds, spec);
      this.compiled.set(sig, c);
      if ('refused' in c) fallback(c.refused);
    }
    if ('refused' in c) {
      this.status = { mode: 'eager', reason: c.refused };
      return null;
    }
    try {
      const outs = this.execute(c, feeds, clock);
      this.status = { mode: 'graph' };
      return outs;
    } catch (e) {
      // A graph TensorFlow loads can still fail to instantiate a kernel on its first run; the run
      // assigned nothing, so the eager step can take over.
      c.session.dispose();
      const refused = `TensorFlow could not run the graph (${explain(e as Error, c.traced)})`;
      this.compiled.set(sig, { refused });
      this.status = { mode: 'eager', reason: refused };
      fallback(refused);
      return null;
    }
  }

  private compile(
    feeds: Record<string, tf.Tensor>,
    spec: (feeds: Record<string, tf.Tensor>, clock: StepClock) => Omit<TraceSpec, 'feeds' | 'clock'>,
  ): Compiled | { refused: string } {
    // Once-per-process capability probes read a tensor back: run them before, not inside, a trace.
    hasGroupedConvGradKernel();
    const traces = PROBE_CLOCKS.map((clock, i) => {
      const f = i === 0 ? feeds : reversed(feeds);
      try {
        return traceStep({ feeds: f, clock, ...spec(f, clock) });
      } finally {
        for (const [k, t] of Object.entries(f)) if (t !== feeds[k]) t.dispose();
      }
    });
    const [a, b] = traces as [TracedStep | { refused: string }, TracedStep | { refused: string }];
    if ('refused' in a) return a;
    if ('refused' in b) return b;
    if (a.fingerprint !== b.fingerprint) {
      return { refused: 'the traced graph changes with the step number or the batch' };
    }
    try {
      return { session: new GraphSession(a.nodes), traced: a };
    } catch (e) {
      return { refused: `TensorFlow did not accept the graph (${explain(e as Error, a)})` };
    }
  }

  private execute(c: Compiled, feeds: Record<string, tf.Tensor>, clock: StepClock): StepOutputs {
    const vars = tf.engine().registeredVariables;
    const inputs = c.traced.inputs.map(({ role }) => {
      if (role.kind === 'host') return tf.scalar(role.fn(clock));
      const t = role.kind === 'var' ? vars[role.name] : feeds[role.name];
      if (!t) throw new Error(`graph step: input ${role.kind} "${role.name}" no longer exists`);
      return t;
    });
    const keys = [...c.traced.fetches.keys()];
    const outs = c.session.run(
      c.traced.inputs.map((i) => i.node),
      inputs,
      keys.map((k) => c.traced.fetches.get(k)!),
    );
    return new Map(keys.map((k, i) => [k, outs[i]!]));
  }

  dispose(): void {
    for (const c of this.compiled.values()) if ('session' in c) c.session.dispose();
    this.compiled.clear();
  }
}
