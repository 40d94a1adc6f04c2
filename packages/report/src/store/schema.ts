/**
 * Schemas of the run store files (packages/trainer/README.md, format version 1), checked at the edge.
 * Objects are `passthrough`: fields added to the format later are kept and never rejected. Only what the
 * report actually uses is required; everything else is optional so that older or partial runs still load.
 */
import { z } from 'zod';

const num = z.number();
const optNum = z.number().nullable().optional();
const optStr = z.string().nullable().optional();

/** Cell folder names: the first 12 hex digits of the cell's config hash (packages/trainer README). */
export const CELL_ID = /^[0-9a-f]{12}$/;
/** Experiment names, as the trainer's experiment schema allows them (they name a folder). */
export const EXPERIMENT_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export const AxisValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** A factor or axis name of the `sensitivity` block: an identifier (it is printed in every format). */
const SENSITIVITY_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const sensitivityName = z
  .string()
  .regex(SENSITIVITY_NAME, 'expected a name (a letter, then letters, digits, ".", "_" or "-")');
const Scalar = z.union([z.string().max(200), z.number(), z.boolean()]);

/**
 * experiment.json `sensitivity` (trainer README, "Run store"): the claimed orderings and the factors
 * varied one at a time around their baselines. Untrusted like every store file: names are identifiers,
 * paths plain strings, values scalars.
 */
export const SensitivitySchema = z
  .object({
    metric: z.string().min(1).max(100),
    claims: z
      .array(z.object({ axis: sensitivityName, baseline: Scalar, treatment: Scalar }).passthrough())
      .min(1),
    factors: z
      .array(
        z
          .object({
            name: sensitivityName,
            path: z.string().max(200),
            values: z.array(Scalar).min(1),
            baseline: Scalar,
            when: z.record(Scalar).optional().default({}),
          })
          .passthrough()
          .refine((f) => f.values.some((v) => String(v) === String(f.baseline)), {
            message: 'the baseline is not one of the values',
            path: ['baseline'],
          }),
      )
      .min(1),
  })
  .passthrough()
  .refine((s) => new Set(s.factors.map((f) => f.name)).size === s.factors.length, {
    message: 'factor names repeat',
    path: ['factors'],
  });

/**
 * experiment.json `claims` (issue 19): the orderings the zero-shot section tests, treatment > baseline
 * on one grid axis; the same shape as `sensitivity.claims`.
 */
export const ClaimsSchema = z.array(
  z.object({ axis: sensitivityName, baseline: Scalar, treatment: Scalar }).passthrough(),
);

export const ExperimentMetaSchema = z
  .object({
    formatVersion: z.number().optional(),
    name: z
      .string()
      .regex(EXPERIMENT_NAME, 'expected an experiment name (lower-case letters, digits, "-" or "_")'),
    file: optStr,
    description: optStr,
    configSha256: optStr,
    axes: z.record(z.array(AxisValueSchema)).optional().default({}),
    cells: z
      .array(z.string().regex(CELL_ID, 'expected a cell id (12 lower-case hex characters)'))
      .optional()
      .default([]),
    createdAt: optStr,
    updatedAt: optStr,
    /** Present only for experiments with a `sensitivity:` block. */
    sensitivity: SensitivitySchema.optional(),
    /** The zero-shot section's claims (issue 19); absent in older stores. */
    claims: ClaimsSchema.optional(),
  })
  .passthrough();

export const CellConfigSchema = z
  .object({
    formatVersion: z.number().optional(),
    experiment: optStr,
    cellId: z
      .string()
      .regex(CELL_ID, 'expected a cell id (12 lower-case hex characters)')
      .nullable()
      .optional(),
    name: optStr,
    axes: z.record(AxisValueSchema),
    dataset: z.object({ name: z.string().optional() }).passthrough().optional(),
    model: z
      .object({ backbone: z.string().optional(), block: z.string().optional() })
      .passthrough()
      .optional(),
    loss: z.object({ name: z.string().optional() }).passthrough().optional(),
    train: z.object({ epochs: z.number().optional() }).passthrough().optional(),
    eval: z.object({}).passthrough().optional(),
    seed: z.number().optional(),
  })
  .passthrough();

export const CellStatusSchema = z
  .object({
    state: z.string(),
    attempt: optNum,
    pid: optNum,
    host: optStr,
    createdAt: optStr,
    startedAt: optStr,
    updatedAt: optStr,
    finishedAt: optStr,
    error: optStr,
    step: optNum,
    epoch: optNum,
    totalSteps: optNum,
    mlflowRunId: optStr,
    /** Cells run by the Slurm executor: the array task and its last known Slurm state. */
    slurm: z
      .object({ jobId: optStr, state: optStr, reason: optStr, node: optStr })
      .passthrough()
      .nullable()
      .optional()
      .catch(undefined),
  })
  .passthrough();

/** lineage.json (trainer README): what produced the cell. Every field optional; unknown ones kept. */
export const LineageSchema = z
  .object({
    time: optStr,
    attempt: optNum,
    git: z.object({ commit: optStr, dirty: z.boolean().nullable().optional() }).passthrough().optional(),
    dataset: z
      .object({
        name: optStr,
        split: optStr,
        digest: optStr,
        size: optNum,
        classes: optNum,
        rows: optNum,
        dir: optStr,
      })
      .passthrough()
      .optional(),
    backend: z.object({ name: optStr, tfVersion: optStr, tfjsVersion: optStr }).passthrough().optional(),
    host: z
      .object({ name: optStr, platform: optStr, arch: optStr, cpu: optStr, cores: optNum, node: optStr })
      .passthrough()
      .optional(),
    previous: z.array(z.object({}).passthrough()).optional(),
  })
  .passthrough();

export const MetricLineSchema = z
  .object({
    kind: z.string(),
    step: optNum,
    epoch: optNum,
    loss: optNum,
    lr: optNum,
    imagesPerSec: optNum,
    trainLoss: optNum,
    'mAP@all': optNum,
    'P@200': optNum,
    time: optStr,
  })
  .passthrough();

const HistogramSchema = z
  .object({ edges: z.array(num), intra: z.array(num), inter: z.array(num) })
  .passthrough()
  .refine((h) => h.edges.length === h.intra.length + 1 && h.intra.length === h.inter.length, {
    message: 'edges must have one more entry than intra and inter, which must have equal length',
  });

/** A class name as the dataset spells it (printed in every format, so bounded, never trusted). */
const className = z.string().max(200);

/** A protocol or metric name: printed everywhere, looked up in eval.json. */
const PROTOCOL_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const METRIC_NAME = /^[A-Za-z0-9@._-]{1,64}$/;

/**
 * eval.json `protocol` (issue 19): null for a category split; for a zero-shot one, its name
 * (sem-pcyc, yelamarthi), the metrics its table shows, and the unseen classes.
 */
export const ProtocolSchema = z
  .object({
    name: z
      .string()
      .regex(PROTOCOL_NAME, 'expected a protocol name (lower-case letters, digits, ".", "_" or "-")'),
    metrics: z
      .array(z.string().regex(METRIC_NAME, 'expected a metric name (an eval.json key such as mAP@all)'))
      .min(1)
      .max(8),
    unseen: z.array(className),
  })
  .passthrough();

/** eval.json `perClass`: the metrics of each query class. */
export const PerClassSchema = z.array(
  z
    .object({
      category: className,
      nQueries: optNum,
      nGallery: optNum,
      'mAP@all': optNum,
      'P@100': optNum,
      'mAP@200': optNum,
      'P@200': optNum,
    })
    .passthrough(),
);

/** eval.json `classVectors`: where the class-name vectors came from and what they miss. */
export const ClassVectorsSchema = z
  .object({
    source: z.string().max(1000),
    format: z.enum(['glove', 'word2vec', 'fasttext']),
    dim: z.number().int().positive(),
    sha256: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected "sha256:" and 64 hex digits'),
    classes: z.number().int().nonnegative(),
    missingClasses: z.array(className).optional().default([]),
    missingTokens: z
      .array(z.object({ category: className, tokens: z.array(z.string().max(200)) }).passthrough())
      .optional()
      .default([]),
  })
  .passthrough();

export const EvalSchema = z
  .object({
    'mAP@all': optNum,
    'P@200': optNum,
    'mAP@200': optNum,
    'P@100': optNum,
    protocol: ProtocolSchema.nullable().optional(),
    perClass: PerClassSchema.nullable().optional(),
    classVectors: ClassVectorsSchema.nullable().optional(),
    hamming: z
      .object({ bits: optNum, 'mAP@all': optNum, 'P@200': optNum })
      .passthrough()
      .nullable()
      .optional(),
    /** Every code length of one run (trainer: `eval.centreHashBits` as a list); `hamming` is the first. */
    hammingByBits: z.array(z.object({ bits: optNum, 'mAP@all': optNum }).passthrough()).optional(),
    nQueries: optNum,
    nGallery: optNum,
    evalSeconds: optNum,
    trainSeconds: optNum,
    pr: z
      .object({ recall: z.array(num.nullable()), precision: z.array(num.nullable()) })
      .passthrough()
      .refine((p) => p.recall.length === p.precision.length, {
        message: 'recall and precision differ in length',
      })
      .nullable()
      .optional(),
    distanceStats: z
      .object({
        fractionSeparated: optNum,
        perClass: z
          .array(z.object({ category: z.string(), maxIntra: optNum, minInter: optNum }).passthrough())
          .optional(),
        histogram: HistogramSchema.nullable().optional(),
      })
      .passthrough()
      .nullable()
      .optional(),
  })
  .passthrough();

export const EmbeddingsSchema = z
  .object({
    dim: z.number().int().positive(),
    rows: z.array(
      z
        .object({
          id: z.union([z.string(), z.number()]).transform(String),
          category: z.string(),
          domain: z.string(),
          split: optStr,
          vector: z.array(num.nullable()),
        })
        .passthrough(),
    ),
  })
  .passthrough()
  .superRefine((e, ctx) => {
    e.rows.forEach((r, i) => {
      if (r.vector.length !== e.dim)
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['rows', i, 'vector'],
          message: `has ${r.vector.length} values, dim is ${e.dim}`,
        });
    });
  });

const RetrievalResultSchema = z
  .object({
    id: z.union([z.string(), z.number()]).transform(String),
    category: z.string(),
    distance: optNum,
    correct: z.boolean(),
    image: optStr,
  })
  .passthrough();

export const RetrievalSchema = z
  .object({
    k: optNum,
    queries: z.array(
      z
        .object({
          id: z.union([z.string(), z.number()]).transform(String),
          category: z.string(),
          image: optStr,
          results: z.array(RetrievalResultSchema),
        })
        .passthrough(),
    ),
  })
  .passthrough();

const neighbour = z.object({ category: className, unseen: z.boolean() }).passthrough();

/**
 * class-neighbours.json (zero-shot cells with class vectors): for each unseen class, its k nearest
 * classes by the cosine of the class word vectors, and by the distance between class means of photo
 * features in the trained model's space.
 */
export const ClassNeighboursSchema = z
  .object({
    k: z.number().int().positive(),
    distance: z.enum(['euclidean', 'angular']),
    classes: z.array(
      z
        .object({
          category: className,
          word: z.array(neighbour.extend({ similarity: num })),
          learned: z.array(neighbour.extend({ distance: num })),
        })
        .passthrough(),
    ),
  })
  .passthrough();

export type ExperimentMeta = z.infer<typeof ExperimentMetaSchema>;
/** config.json as the report reads it: the fields it uses of the trainer's CellConfig (passthrough). */
export type StoredCellConfig = z.infer<typeof CellConfigSchema>;
export type CellStatus = z.infer<typeof CellStatusSchema>;
export type MetricLine = z.infer<typeof MetricLineSchema>;
export type Lineage = z.infer<typeof LineageSchema>;
export type EvalResult = z.infer<typeof EvalSchema>;
export type Embeddings = z.infer<typeof EmbeddingsSchema>;
export type Retrieval = z.infer<typeof RetrievalSchema>;
export type AxisValue = z.infer<typeof AxisValueSchema>;
export type Sensitivity = z.infer<typeof SensitivitySchema>;
export type Claim = z.infer<typeof ClaimsSchema>[number];
export type Protocol = z.infer<typeof ProtocolSchema>;
export type PerClass = z.infer<typeof PerClassSchema>[number];
export type ClassVectors = z.infer<typeof ClassVectorsSchema>;
export type ClassNeighbours = z.infer<typeof ClassNeighboursSchema>;
