/**
 * Principal component analysis of a small sample (≤ a few thousand rows, dimension ≤ ~2048) by power
 * iteration with deflation on the covariance matrix. Pure and deterministic: the start vector is fixed
 * and each component's sign is chosen so that its largest-magnitude entry is positive.
 */

export interface PcaResult {
  /** component vectors, each of length dim, unit norm */
  components: number[][];
  /** variance along each component (eigenvalues of the sample covariance, n − 1 denominator) */
  variances: number[];
  /** fraction of the total variance along each component */
  explained: number[];
  /** the mean that was subtracted */
  mean: number[];
  /** rows projected on the components: projected[i][k] */
  projected: number[][];
}

/** Sample covariance (n − 1) of centred rows. */
export function covariance(rows: readonly (readonly number[])[], mu: readonly number[]): number[][] {
  const d = mu.length;
  const c = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  const centred = new Array<number>(d);
  for (const r of rows) {
    for (let j = 0; j < d; j++) centred[j] = r[j] - mu[j];
    for (let i = 0; i < d; i++) {
      const ci = centred[i];
      if (ci === 0) continue;
      const row = c[i];
      for (let j = i; j < d; j++) row[j] += ci * centred[j];
    }
  }
  const denom = Math.max(1, rows.length - 1);
  for (let i = 0; i < d; i++)
    for (let j = i; j < d; j++) {
      c[i][j] /= denom;
      c[j][i] = c[i][j];
    }
  return c;
}

function matVec(m: number[][], v: number[]): number[] {
  return m.map((row) => row.reduce((s, x, j) => s + x * v[j], 0));
}

function norm(v: number[]): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

/** Top-k eigenpairs of a symmetric positive semi-definite matrix by power iteration with deflation. */
export function topEigen(
  matrix: number[][],
  k: number,
  opts: { iterations?: number; tol?: number } = {},
): { vectors: number[][]; values: number[] } {
  const d = matrix.length;
  const iterations = opts.iterations ?? 1000;
  const tol = opts.tol ?? 1e-12;
  const m = matrix.map((r) => [...r]);
  const vectors: number[][] = [];
  const values: number[] = [];
  for (let c = 0; c < Math.min(k, d); c++) {
    // fixed, non-degenerate start vector
    let v = Array.from({ length: d }, (_, i) => 1 + ((i * 7919) % 13) / 13);
    for (const u of vectors) {
      const dot = v.reduce((s, x, i) => s + x * u[i], 0);
      v = v.map((x, i) => x - dot * u[i]);
    }
    let n = norm(v);
    v = v.map((x) => x / (n || 1));
    let lambda = 0;
    for (let it = 0; it < iterations; it++) {
      let w = matVec(m, v);
      for (const u of vectors) {
        const dot = w.reduce((s, x, i) => s + x * u[i], 0);
        w = w.map((x, i) => x - dot * u[i]);
      }
      n = norm(w);
      if (n === 0) break;
      const next = w.map((x) => x / n);
      const delta = next.reduce((s, x, i) => s + Math.abs(x - v[i]), 0);
      v = next;
      lambda = n;
      if (delta < tol) break;
    }
    let big = 0;
    for (let i = 1; i < d; i++) if (Math.abs(v[i]) > Math.abs(v[big])) big = i;
    if (v[big] < 0) v = v.map((x) => -x);
    // Rayleigh quotient as the eigenvalue (exact for a converged vector, also with deflation)
    const mv = matVec(m, v);
    lambda = v.reduce((s, x, i) => s + x * mv[i], 0);
    vectors.push(v);
    values.push(Math.max(0, lambda));
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) m[i][j] -= lambda * v[i] * v[j];
  }
  return { vectors, values };
}

export function pca(rows: readonly (readonly number[])[], k = 2): PcaResult {
  if (!rows.length) return { components: [], variances: [], explained: [], mean: [], projected: [] };
  const d = rows[0].length;
  const mu = new Array<number>(d).fill(0);
  for (const r of rows) for (let j = 0; j < d; j++) mu[j] += r[j] / rows.length;
  const cov = covariance(rows, mu);
  const total = cov.reduce((s, r, i) => s + r[i], 0);
  const { vectors, values } = topEigen(cov, k);
  const projected = rows.map((r) => vectors.map((v) => v.reduce((s, x, j) => s + x * (r[j] - mu[j]), 0)));
  return {
    components: vectors,
    variances: values,
    explained: values.map((v) => (total > 0 ? v / total : 0)),
    mean: mu,
    projected,
  };
}
