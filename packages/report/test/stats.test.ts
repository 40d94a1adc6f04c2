import { mean, pairedTTest, sampleStd } from '../src/stats';
import { pca, topEigen } from '../src/pca';

/** Student-t CDF by direct numerical integration of the density (Simpson), independent of @stdlib. */
function tCdfBySimpson(x: number, df: number): number {
  const lgamma = (z: number): number => {
    // Lanczos approximation
    const g = 7;
    const c = [
      0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
      12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];
    if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lgamma(1 - z);
    z -= 1;
    let a = c[0];
    const t = z + g + 0.5;
    for (let i = 1; i < g + 2; i++) a += c[i] / (z + i);
    return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
  };
  const logc = lgamma((df + 1) / 2) - lgamma(df / 2) - 0.5 * Math.log(df * Math.PI);
  const pdf = (t: number) => Math.exp(logc - ((df + 1) / 2) * Math.log(1 + (t * t) / df));
  // P(T <= x) = 1/2 - ∫_x^0 pdf for x < 0
  const n = 20000;
  const a = x;
  const b = 0;
  const h = (b - a) / n;
  let s = pdf(a) + pdf(b);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * pdf(a + i * h);
  return 0.5 - (s * h) / 3;
}

describe('mean and sample std', () => {
  it('match hand-computed values', () => {
    expect(mean([0.4, 0.42, 0.41])).toBeCloseTo(0.41, 12);
    // deviations -0.01, 0.01, 0 → ss = 0.0002, /2 → 0.0001, sqrt → 0.01
    expect(sampleStd([0.4, 0.42, 0.41])).toBeCloseTo(0.01, 12);
    expect(sampleStd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(sampleStd([1])).toBeNull();
    expect(mean([])).toBeNull();
  });
});

describe('pairedTTest', () => {
  it('matches scipy.stats.ttest_rel (scipy 1.17.1, computed once)', () => {
    // scipy: ttest_rel([0.43,0.47,0.44],[0.4,0.42,0.41]) → t=5.500000000000002, p=0.03150400304181378
    const r = pairedTTest([0.43, 0.47, 0.44], [0.4, 0.42, 0.41]);
    expect(r.t).toBeCloseTo(5.5, 9);
    expect(r.df).toBe(2);
    expect(r.p).toBeCloseTo(0.03150400304181378, 10);
    // ttest_rel([0.12,0.19,0.31,0.44,0.28],[0.1,0.2,0.25,0.38,0.3]) → t=1.3054598240132391, p=0.26176016347784714
    const r2 = pairedTTest([0.12, 0.19, 0.31, 0.44, 0.28], [0.1, 0.2, 0.25, 0.38, 0.3]);
    expect(r2.t).toBeCloseTo(1.3054598240132391, 9);
    expect(r2.p).toBeCloseTo(0.26176016347784714, 10);
  });

  it('matches closed forms of the t distribution for df = 1 and df = 2', () => {
    // df = 1 (Cauchy): p = 1 − 2·atan(|t|)/π.  d = [0.06, 0.05] → mean 0.055, sd 0.00707..., t = 11
    const r1 = pairedTTest([0.46, 0.47], [0.4, 0.42]);
    expect(r1.t).toBeCloseTo(11, 9);
    expect(r1.p).toBeCloseTo(1 - (2 * Math.atan(11)) / Math.PI, 10);
    // df = 2: P(T ≤ t) = 1/2 + t / (2√(2 + t²)) → p = 1 − |t|/√(2 + t²)
    const d = [0.01, -0.01, 0.06];
    const md = (0.01 - 0.01 + 0.06) / 3;
    const sd = Math.sqrt(d.reduce((s, x) => s + (x - md) ** 2, 0) / 2);
    const t = md / (sd / Math.sqrt(3));
    const r2 = pairedTTest([0.26, 0.25, 0.3], [0.25, 0.26, 0.24]);
    expect(r2.t).toBeCloseTo(t, 9);
    expect(r2.p).toBeCloseTo(1 - Math.abs(t) / Math.sqrt(2 + t * t), 10);
  });

  it('agrees with a numerically integrated t density for larger df', () => {
    const a = [5.1, 4.8, 6.0, 5.5, 5.9, 6.2, 4.9, 5.7];
    const b = [4.9, 4.9, 5.1, 5.0, 5.2, 5.9, 4.2, 5.6];
    const r = pairedTTest(a, b);
    expect(r.df).toBe(7);
    expect(r.p).toBeCloseTo(2 * tCdfBySimpson(-Math.abs(r.t as number), 7), 7);
  });

  it('gives n/a (null) with fewer than two pairs and handles zero variance', () => {
    expect(pairedTTest([0.5], [0.4]).p).toBeNull();
    expect(pairedTTest([], []).p).toBeNull();
    expect(pairedTTest([1, 2], [1, 2]).p).toBeNull();
    expect(pairedTTest([2, 3], [1, 2]).p).toBe(0);
    expect(() => pairedTTest([1], [1, 2])).toThrow(/paired/);
  });
});

describe('pca', () => {
  it('finds the principal axes of a known covariance', () => {
    // symmetric matrix with eigenvalues 4 (axis (1,1)/√2) and 1 (axis (1,-1)/√2)
    const m = [
      [2.5, 1.5],
      [1.5, 2.5],
    ];
    const { vectors, values } = topEigen(m, 2);
    expect(values[0]).toBeCloseTo(4, 9);
    expect(values[1]).toBeCloseTo(1, 9);
    expect(Math.abs(vectors[0][0])).toBeCloseTo(Math.SQRT1_2, 9);
    expect(vectors[0][0] * vectors[1][0] + vectors[0][1] * vectors[1][1]).toBeCloseTo(0, 9);
  });

  it('projects data spread along one direction onto the first component', () => {
    const rows: number[][] = [];
    for (let i = -10; i <= 10; i++) rows.push([i * 3 + 1, i * 3 - 2, (i % 2) * 0.1 + 5]);
    const r = pca(rows, 2);
    expect(r.explained[0]).toBeGreaterThan(0.99);
    expect(r.mean[2]).toBeCloseTo(5, 1);
    // the first component is (1,1,0)/√2 up to sign; sign rule makes the largest entry positive
    expect(r.components[0][0]).toBeCloseTo(Math.SQRT1_2, 4);
    expect(r.components[0][1]).toBeCloseTo(Math.SQRT1_2, 4);
    // projection of the centred first row
    const c = rows[0].map((x, j) => x - r.mean[j]);
    expect(r.projected[0][0]).toBeCloseTo(
      c[0] * r.components[0][0] + c[1] * r.components[0][1] + c[2] * r.components[0][2],
      9,
    );
    // total variance preserved: var(PC1) equals the sample variance of the projections
    const p1 = r.projected.map((p) => p[0]);
    expect((sampleStd(p1) as number) ** 2).toBeCloseTo(r.variances[0], 6);
  });

  it('returns empty results for no rows', () => {
    expect(pca([]).projected).toEqual([]);
  });
});
