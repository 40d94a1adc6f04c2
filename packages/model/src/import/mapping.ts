/**
 * Maps a source checkpoint onto a target backbone by the naming contract of layout.ts: target name
 * = `backbone.` + the PyTorch state-dict key, after stripping wrapper prefixes (`module.` from
 * DataParallel, `model.`, `backbone.`). Values are converted with fromTorchLayout (PyTorch sources)
 * or kept as they are (Keras sources are already HWIO / [in, out]; a 1x1 conv kernel feeding a
 * linear target is reshaped). A tensor whose name exists in the target but whose shape no rule maps
 * is an error (the checkpoint is for another architecture); tensors without a target are reported
 * with the reason.
 */
import { LayoutArray, fromTorchLayout } from './layout';
import { CheckpointError, SourceCheckpoint, SourceLayout } from './source';

export interface TargetTensor {
  name: string;
  shape: number[];
}

export interface MappedTensor {
  source: string;
  target: string;
  /** Layout rule applied (see RULES). */
  rule: string;
  sourceShape: number[];
  sourceDType: string;
  shape: number[];
  data: Float32Array;
}

export interface UnmatchedTensor {
  source: string;
  shape: number[];
  reason: string;
}

export interface MappingResult {
  mapped: MappedTensor[];
  unmatched: UnmatchedTensor[];
  /** Target tensors no source tensor fills (they keep their initialisation when loaded). */
  missing: TargetTensor[];
  /** Prefixes stripped from source names, with counts. */
  strippedPrefixes: Record<string, number>;
}

export const WRAPPER_PREFIXES = ['module.', 'model.', 'backbone.'];
const CLASSIFIER = /^(last_linear|fc|classifier|head\.fc|head)\./;

/** The layout rule a conversion used, for the manifest. */
function ruleFor(layout: SourceLayout, src: number[], dst: number[]): string {
  if (layout === 'keras')
    return src.length === dst.length ? 'keras: same layout' : 'keras: 1x1 conv kernel -> [in, out]';
  if (src.length === 4 && dst.length === 4) return 'conv OIHW -> HWIO';
  if (src.length === 4) return '1x1 conv as linear [out, in, 1, 1] -> [in, out]';
  if (src.length === 2) return 'linear [out, in] -> [in, out]';
  return src.length === 1 ? 'vector' : 'scalar';
}

function fromKerasLayout(src: LayoutArray, target: number[]): LayoutArray | null {
  const s = src.shape;
  if (s.length === target.length && s.every((v, i) => v === target[i])) return src;
  if (
    s.length === 4 &&
    target.length === 2 &&
    s[0] === 1 &&
    s[1] === 1 &&
    s[2] === target[0] &&
    s[3] === target[1]
  )
    return { shape: target, data: src.data };
  return null;
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

function stripPrefixes(key: string, counts: Record<string, number>): string {
  let k = key;
  for (let changed = true; changed;) {
    changed = false;
    for (const p of WRAPPER_PREFIXES) {
      if (k.startsWith(p)) {
        k = k.slice(p.length);
        counts[p] = (counts[p] ?? 0) + 1;
        changed = true;
      }
    }
  }
  return k;
}

function unmatchedReason(key: string, arch: string): string {
  if (key.endsWith('num_batches_tracked'))
    return 'BatchNorm step counter: no counterpart (running statistics use a fixed momentum)';
  if (CLASSIFIER.test(key)) return 'classifier head, not used';
  return `no tensor of this name in ${arch}`;
}

/**
 * Maps every tensor of `ck` onto `targets`; `onTensor` is called after each source tensor (progress).
 * Throws a CheckpointError naming the first tensor whose shape does not fit, or when nothing maps.
 */
export function mapCheckpoint(
  file: string,
  ck: SourceCheckpoint,
  targets: TargetTensor[],
  arch: string,
  onTensor: (done: number, total: number) => void = () => undefined,
): MappingResult {
  const byName = new Map(targets.map((t) => [t.name, t]));
  const strippedPrefixes: Record<string, number> = {};
  const mapped: MappedTensor[] = [];
  const unmatched: UnmatchedTensor[] = [];
  const filled = new Set<string>();
  ck.tensors.forEach((t, i) => {
    const key = stripPrefixes(t.key, strippedPrefixes);
    const target = byName.get(`backbone.${key}`);
    if (!target) {
      unmatched.push({ source: t.key, shape: t.shape, reason: unmatchedReason(key, arch) });
    } else {
      if (filled.has(target.name))
        throw new CheckpointError(file, t.key, `a second source tensor for ${target.name}`);
      const shapeFits =
        ck.layout === 'keras'
          ? fromKerasLayout({ shape: t.shape, data: new Float32Array(0) }, target.shape) !== null
          : fromTorchLayout({ shape: t.shape, data: new Float32Array(0) }, target.shape) !== null;
      if (!shapeFits)
        throw new CheckpointError(
          file,
          t.key,
          `shape [${t.shape.join(', ')}] does not fit ${target.name} [${target.shape.join(', ')}] of ${arch} (another architecture?)`,
        );
      const src = { shape: t.shape, data: t.read() };
      if (!allFinite(src.data)) throw new CheckpointError(file, t.key, 'holds NaN or infinite values');
      const conv = (
        ck.layout === 'keras' ? fromKerasLayout(src, target.shape) : fromTorchLayout(src, target.shape)
      )!;
      mapped.push({
        source: t.key,
        target: target.name,
        rule: ruleFor(ck.layout, t.shape, target.shape),
        sourceShape: t.shape,
        sourceDType: t.dtype,
        shape: conv.shape,
        data: conv.data,
      });
      filled.add(target.name);
    }
    onTensor(i + 1, ck.tensors.length);
  });
  if (mapped.length === 0) {
    const first = ck.tensors[0]?.key ?? null;
    throw new CheckpointError(
      file,
      first,
      `no tensor matches a parameter of ${arch} (first source tensor shown)`,
    );
  }
  const missing = targets.filter((t) => !filled.has(t.name));
  return { mapped, unmatched, missing, strippedPrefixes };
}
