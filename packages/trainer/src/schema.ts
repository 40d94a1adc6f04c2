/**
 * Experiment schema: the one place where `experiments/*.yaml` is checked (Hydra's "schema at the edge").
 *
 * Two layers:
 * - `ExperimentFileSchema` checks the file's shape (name, base, losses, grid) and leaves the config
 *   fragments loosely typed: they only make sense once merged.
 * - `cellConfigSchema()` checks one fully merged cell config, with defaults filled in. Errors from it are
 *   mapped back to the yaml path that supplied the value (see grid.ts, `provenance`).
 *
 * One file on purpose: the zod schemas of the experiment file and of a cell config are one tree (a
 * cell config is the file's base merged with one grid point); split, the defaults would drift.
 */
import { configIssueOf, type ConfigIssue } from '@sbir/core';
import { SPLIT_PROTOCOLS, checkPrepareOptions, type PrepareOptions } from '@sbir/data';
import { z } from 'zod';
import { GALLERY_ORDERS, type GalleryOrder } from './eval-order';
import {
  CHANNEL_ORDERS,
  NORMALIZATIONS,
  PIPELINE_NAMES,
  RETRIEVAL_DISTANCES,
  ROTATE_INTERPOLATIONS,
  STEP_MODES,
  defaultRetrievalDistance,
  pipelineDefaults,
  resolveInputPipeline,
  type ChannelOrder,
  type InputPipelineConfig,
  type PipelineName,
  type RetrievalDistance,
  OPTIMIZER_NAMES,
  PRETRAINED_INITS,
  SCHEDULE_NAMES,
  BackboneOptionsSchema,
  getBackboneSpec,
  getBlock,
  getLoss,
  listBackbones,
  listBlockOptions,
  listBlocks,
  listLosses,
  listModelKinds,
  getModelKind,
  parseBlockOptions,
  DEFAULT_MODEL_KIND,
  type LossName,
  type OptimizerName,
  type ScheduleName,
} from '@sbir/model';

/** Closed ids, each with its runtime list (tfjs-layers style); the model package owns them. */
export type { LossName };
export const OPTIMIZERS = OPTIMIZER_NAMES as readonly [OptimizerName, ...OptimizerName[]];
export const SCHEDULES = SCHEDULE_NAMES as readonly [ScheduleName, ...ScheduleName[]];
export const SPLITS = SPLIT_PROTOCOLS;
/**
 * Zero-shot protocols (issue 19): which unseen classes and which metrics a table shows. Every cell's
 * eval.json has all of them; the protocol decides the headline and is never mixed in one table row.
 */
export const ZEROSHOT_PROTOCOLS = {
  /** Dutta & Akata 2019 (SAKE, PDFD, ZSE-SBIR...): Sketchy 25 / TU-Berlin 30 unseen classes. */
  'sem-pcyc': { metrics: ['mAP@all', 'P@100'] },
  /** Yelamarthi et al. 2018 (Doodle2Search, Sketch_LVM...): Sketchy 21 unseen classes. */
  yelamarthi: { metrics: ['mAP@200', 'P@200'] },
} as const;
export type ZeroshotProtocol = keyof typeof ZEROSHOT_PROTOCOLS;
const PROTOCOL_NAMES = Object.keys(ZEROSHOT_PROTOCOLS) as [ZeroshotProtocol, ...ZeroshotProtocol[]];

/** Every number of a config is finite: yaml's `.inf` and `.nan` are numbers to yaml, not to us. */
const finite = () => z.number().finite();
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/**
 * The loss: a union over the registered losses by `name`, each with its entry's own zod options (every
 * default there, so that config.json writes every option out and a changed default changes the id).
 * `annealSteps` ('auto' = half the total steps, as the authors' 100k of 200k) is the margin annealing.
 */
export function lossSchema() {
  const variants = listLosses().map((name) =>
    getLoss(name)
      .options.extend({ name: z.literal(name) })
      .strict(),
  );
  return z.discriminatedUnion(
    'name',
    variants as unknown as [z.AnyZodObject, z.AnyZodObject, ...z.AnyZodObject[]],
  ) as unknown as z.ZodType<LossSettings>;
}

/** An issue a model or data check raised, as a zod issue at `prefix` + its path (relative to `base`). */
function addCheckIssue(
  ctx: z.RefinementCtx,
  err: unknown,
  base: string[],
  prefix: (string | number)[],
): void {
  const issue: ConfigIssue | null = configIssueOf(err);
  const relative = issue && base.every((k, i) => issue.path[i] === k) ? issue.path.slice(base.length) : null;
  ctx.addIssue({
    code: z.ZodIssueCode.custom,
    message: issue && relative ? issue.message : (err as Error).message,
    path: [...prefix, ...(relative ?? [])],
  });
}

/**
 * Input pipeline (@sbir/model augment.ts): `authors` (Dataset.py), `crop-flip` or `none`, as a name or
 * `{ name, ...parameters }`; `true` and `false` (the earlier boolean) mean `crop-flip` and `none`.
 * config.json holds the object with every parameter (defaults from @sbir/model, one source of truth).
 */
const ENUM_PARAMS: Record<string, readonly [string, ...string[]]> = {
  normalize: NORMALIZATIONS as [string, ...string[]],
  rotateInterpolation: ROTATE_INTERPOLATIONS as [string, ...string[]],
};

function pipelineSchema(name: PipelineName): z.AnyZodObject {
  const shape: Record<string, z.ZodTypeAny> = { name: z.literal(name) };
  for (const [key, dflt] of Object.entries(pipelineDefaults(name))) {
    if (key === 'name' || key === 'photoChannels') continue; // photoChannels: dataset.photoChannels
    if (ENUM_PARAMS[key]) shape[key] = z.enum(ENUM_PARAMS[key]!).default(dflt as string);
    else if (Array.isArray(dflt))
      shape[key] = z.tuple([z.number(), z.number()]).default(dflt as [number, number]);
    else shape[key] = z.number().default(dflt as number);
  }
  return z.object(shape).strict();
}

export const AugmentSchema = z
  .preprocess(
    (v) =>
      v === true
        ? { name: 'crop-flip' }
        : v === false
          ? { name: 'none' }
          : typeof v === 'string'
            ? { name: v }
            : v,
    z
      .discriminatedUnion(
        'name',
        PIPELINE_NAMES.map(pipelineSchema) as unknown as [
          z.AnyZodObject,
          z.AnyZodObject,
          ...z.AnyZodObject[],
        ],
      )
      .superRefine((p, ctx) => {
        // the model's range checks, reported at the parameter's path
        try {
          resolveInputPipeline(p as InputPipelineConfig);
        } catch (e) {
          addCheckIssue(ctx, e, ['augment'], []);
        }
      }),
  )
  .default('authors');

export type AugmentSettings = InputPipelineConfig;

export const DatasetSchema = z
  .object({
    /** Short name used in tables and MLflow (emoji, sketchy, tuberlin). */
    name: z.string().min(1),
    /**
     * Folder holding the prepared dataset (manifest.json + shards). `{dataRoot}` is replaced by
     * --data-root, else $SBIR_DATA_ROOT, else `data`. Not part of the cell id: where the data lives
     * does not change results; what it is (name, split, prepare) does.
     */
    dir: z.string().min(1),
    split: z.enum(SPLITS).default('category'),
    /** Options for @sbir/data's prepareDataset, used when `dir` has no manifest yet (emoji only). */
    prepare: z.record(z.unknown()).optional(),
    /**
     * Channel order the network sees for photos, in training and evaluation: `bgr` reverses them, as the
     * authors do for TU-Berlin photos only (Dataset.py PhotoDataset: `flip_channel` if TUBerlin).
     */
    photoChannels: z.enum(CHANNEL_ORDERS as [ChannelOrder, ...ChannelOrder[]]).default('rgb'),
    /**
     * Zero-shot protocol (ZEROSHOT_PROTOCOLS); only with split zeroshot, where it defaults to sem-pcyc.
     * For Sketchy / TU-Berlin the prepared unseen classes must be the protocol's published list.
     */
    protocol: z.enum(PROTOCOL_NAMES).optional(),
    /**
     * Class-name word vectors attached to the dataset folder (@sbir/data attachClassVectors):
     * `glove-6b-50d` (offline default, installed by scripts/word-vectors.sh) or a GloVe / word2vec /
     * fastText file. Needed by SSGN and the regression loss; recorded in lineage and eval.json.
     */
    wordVectors: z.string().min(1).optional(),
    /** A class with no vector at all gets a zero row (listed) instead of stopping the run. */
    allowMissingVectors: z.boolean().optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.protocol !== undefined && d.split !== 'zeroshot')
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `a zero-shot protocol needs split zeroshot (split is ${d.split})`,
        path: ['protocol'],
      });
    if (d.allowMissingVectors !== undefined && d.wordVectors === undefined)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: 'allowMissingVectors applies only with dataset.wordVectors',
        path: ['allowMissingVectors'],
      });
    // checked when the experiment loads, not when the dataset is first needed
    if (!d.prepare) return;
    try {
      checkPrepareOptions({ dataset: d.name, split: d.split, ...d.prepare, out: d.dir } as PrepareOptions);
    } catch (e) {
      addCheckIssue(ctx, e, [], ['prepare']); // a DataError names the option in its issue
    }
  });

/** The settings of `model` that are not a kind's or a block's options. */
export interface ModelSettings {
  kind?: string;
  backbone: string;
  block: string;
  width: number;
  inputSize: number;
  embeddingDim: number;
  hashBits?: number;
  weightsFile?: string;
  pretrained?: string;
  pretrainedInit?: (typeof PRETRAINED_INITS)[number];
  /** The kind's options object (`ssgn`) and the blocks' options (`seReduction`, ...), by name. */
  [option: string]: unknown;
}

/** `model.<optionsKey>` of every kind that has options (its entry's zod schema, every default inside). */
function kindOptionShapes(): Record<string, z.ZodTypeAny> {
  return Object.fromEntries(
    listModelKinds()
      .map((name) => getModelKind(name))
      .filter((k) => k.optionsKey && k.options)
      .map((k) => [k.optionsKey!, k.options!.optional()]),
  );
}

/**
 * The blocks' options (`model.<option>`), from their entries. Options of `se` and `dase` carry their
 * defaults into every cell (`recordedForEveryBlock`: the ids of earlier cells); another block's options
 * are optional here and filled in only for the cell that uses that block (`modelSchema`'s transform).
 */
function blockOptionShapes(): Record<string, z.ZodTypeAny> {
  return Object.fromEntries(
    listBlockOptions().map((o) => [o.name, o.recordedForEveryBlock ? o.field : o.field.optional()]),
  );
}

/** The issues of the cell's block: its name, options of other blocks, and the block's own checks. */
function checkBlock(m: ModelSettings, ctx: z.RefinementCtx): void {
  try {
    getBlock(m.block);
  } catch (e) {
    return addCheckIssue(ctx, e, ['model'], []);
  }
  for (const o of listBlockOptions()) {
    if (o.recordedForEveryBlock || m[o.name] === undefined) continue;
    if (!(o.name in getBlock(m.block).options.shape))
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `applies only to model.block ${o.block} (block is ${m.block})`,
        path: [o.name],
      });
  }
  try {
    parseBlockOptions(m.block, m, { stages: getBackboneSpec(m.backbone).layers.length });
  } catch (e) {
    addCheckIssue(ctx, e, ['model'], []);
  }
}

/** Options under another kind's key (`model.ssgn` with kind sbir) are errors naming that key. */
function checkKindOptions(m: ModelSettings, ctx: z.RefinementCtx): void {
  const kind = m.kind ?? DEFAULT_MODEL_KIND;
  for (const owner of listModelKinds().map((n) => getModelKind(n))) {
    const key = owner.optionsKey;
    if (key && m[key] !== undefined && owner.name !== kind)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `applies only to model.kind ${owner.name} (kind is ${kind})`,
        path: [key],
      });
  }
}

/**
 * `model`, composed from @sbir/model's registries when called (a block or kind registered at runtime
 * is in it): the kinds and their options objects, the backbones, the blocks and their options. Every
 * default lives in a registry entry; config.json gets them written out (the transform).
 */
export function modelSchema(): z.ZodType<ModelSettings> {
  const head = {
    /**
     * A registered model kind (@sbir/model listModelKinds()): `sbir` (backbone + embedding head, the
     * default, left out of config.json so earlier cells keep their ids) or `ssgn` (zero-shot).
     */
    kind: z.enum(listModelKinds() as [string, ...string[]]).optional(),
    ...kindOptionShapes(),
    /** A registered backbone (@sbir/model listBackbones()). */
    backbone: z.enum(listBackbones() as [string, ...string[]]),
    /** A registered block (@sbir/model listBlocks()); its registry entry checks the name. */
    block: z.string(),
    ...BackboneOptionsSchema.shape, // width
    inputSize: positiveInt,
    embeddingDim: positiveInt,
    hashBits: positiveInt.optional(),
  };
  const tail = {
    weightsFile: z.string().optional(),
    /** Folder written by `model:import` (published ImageNet weights mapped onto the backbone). */
    pretrained: z.string().min(1).optional(),
    /** How tensors the folder does not fill start (model default 'authors': size mismatches keep
     *  their random init; 'copy-zero-domain' copies the SE fc2 into a DASE fc2 with a zero domain row). */
    pretrainedInit: z.enum(PRETRAINED_INITS).optional(),
  };
  for (const o of listBlockOptions())
    if (o.name in head || o.name in tail)
      throw new Error(`block "${o.block}": option "${o.name}" is a model setting of its own`);
  // block options sit after hashBits: the key order of config.json's model as before issue 23
  const shape = { ...head, ...blockOptionShapes(), ...tail };
  return z
    .object(shape)
    .strict()
    .superRefine((m, ctx) => {
      checkKindOptions(m as ModelSettings, ctx);
      checkBlock(m as ModelSettings, ctx);
    })
    .transform((m) => {
      // the kind's and the block's options written out with their defaults (config.json shows every
      // setting); a block's options that every cell records are in place already
      const entry = getModelKind(m.kind ?? DEFAULT_MODEL_KIND);
      const key = entry.optionsKey;
      const withBlock = { ...m, ...parseBlockOptions(m.block, m) } as ModelSettings;
      if (!key || !entry.options) return withBlock;
      return { ...withBlock, [key]: withBlock[key] ?? entry.options.parse({}) };
    }) as unknown as z.ZodType<ModelSettings>;
}

export const TrainSchema = z
  .object({
    /** Length of training: give `epochs` (passes over the train subset) or `steps` (total), not both. */
    epochs: positiveInt.optional(),
    steps: positiveInt.optional(),
    /** Steps between evaluations/checkpoints when training by steps (default: one pass over the data). */
    stepsPerEpoch: positiveInt.optional(),
    batchSize: positiveInt,
    /** Half sketches, half photos in every batch (the authors' 22 + 22). */
    balanceDomains: z.boolean().default(true),
    /** Input pipeline: training transforms in trainStep, test transforms for evaluation (AugmentSchema). */
    augment: AugmentSchema,
    optimizer: z.enum(OPTIMIZERS).default('adam'),
    lr: finite().positive(),
    weightDecay: finite().nonnegative().default(0),
    momentum: finite().min(0).max(1).optional(),
    schedule: z.enum(SCHEDULES).default('constant'),
    shuffleBuffer: positiveInt.optional(),
    /** Extra checkpoints between epoch ends (the last one is what a crashed cell resumes from). */
    checkpointEverySteps: positiveInt.optional(),
    /** One `step` line in metrics.jsonl every this many steps (loss averaged over them). */
    logEverySteps: positiveInt.default(10),
    /** Use at most this many training rows (a quick-look knob; the whole train subset by default). */
    limitRows: positiveInt.optional(),
    /** `graph` (default on the native backend: each step one TensorFlow graph) or `eager` (opt-out). */
    stepMode: z.enum(STEP_MODES as readonly ['graph', 'eager']).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if ((t.epochs === undefined) === (t.steps === undefined)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: 'give exactly one of train.epochs and train.steps',
        path: [],
      });
    }
    if (t.momentum !== undefined && t.optimizer !== 'sgd') {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: 'momentum applies only to optimizer sgd',
        path: ['momentum'],
      });
    }
  });

export const EvalSchema = z
  .object({
    /** Embedding batch size. */
    batchSize: positiveInt.default(64),
    /** Final evaluation: distance = minimum over the flip combinations (the authors' tester.py). */
    flipTest: z.boolean().default(true),
    /** Evaluate every this many epochs (0 = only the final evaluation). */
    everyEpochs: nonNegativeInt.default(1),
    /** Per-epoch evaluation uses at most this many queries / gallery rows (keeps it cheap). */
    epochQueries: positiveInt.optional(),
    epochGallery: positiveInt.optional(),
    /** retrieval.json: queries shown and results per query. */
    retrievalQueries: nonNegativeInt.default(8),
    retrievalTopK: positiveInt.default(10),
    /** embeddings.json: at most this many rows (README: ≤ 600). */
    embeddingsSample: nonNegativeInt.max(600).default(600),
    /** distanceStats is computed on at most this many embeddings (pairwise cost). */
    statsSample: positiveInt.default(2000),
    /**
     * Post-hoc binary codes as the authors' tester.py: after training, a spectral-normalised map
     * (embedding -> bits) is fitted to the class prototypes, codes = its sign; Hamming mAP in eval.json.
     * Optional with no default, so that cells which do not use it keep their ids. A list (tester.py:
     * [32, 64, 128]) evaluates every length in one run: `hamming` is the first, `hammingByBits` all.
     */
    centreHashBits: z.union([positiveInt, z.array(positiveInt).min(1)]).optional(),
    /**
     * Gallery order for ranking, which decides ties (eval-order.ts): `stored` (the prepared, shuffled
     * order; what an unset value means) or `category` (the authors' photo list order). No default, so
     * cells without it keep their ids.
     */
    galleryOrder: z.enum(GALLERY_ORDERS as [GalleryOrder, ...GalleryOrder[]]).optional(),
    /** Adam steps of that fit (default 1000; the authors run 10,000). */
    centreHashSteps: positiveInt.optional(),
    /**
     * Retrieval distance (tester.py --test_distance): `angular` L2-normalises features, and centres and
     * features for the centre hash. Default per loss (`defaultRetrievalDistance`: cosface and arcface
     * angular, the rest euclidean), written into config.json resolved.
     */
    distance: z.enum(RETRIEVAL_DISTANCES as [RetrievalDistance, ...RetrievalDistance[]]).optional(),
  })
  .strict();

/**
 * The registered names the composed schemas depend on. Registries only add entries (a name is never
 * registered twice), so equal names mean equal entries: the cache key of `cellConfigSchema`.
 */
function registryKey(): string {
  return JSON.stringify([listModelKinds(), listBackbones(), listBlocks(), listLosses()]);
}

let composed: { key: string; schema: ReturnType<typeof composeCellConfigSchema> } | null = null;

/**
 * One fully merged cell config, composed from the registries when called (a block, loss or kind
 * registered at runtime is in it), with every default filled in. Kept until a registry changes:
 * composing it for each of a study's cells cost about half the time of loading the experiments.
 */
export function cellConfigSchema(): ReturnType<typeof composeCellConfigSchema> {
  const key = registryKey();
  if (composed?.key !== key) composed = { key, schema: composeCellConfigSchema() };
  return composed.schema;
}

function composeCellConfigSchema() {
  return z
    .object({
      dataset: DatasetSchema,
      model: modelSchema(),
      loss: lossSchema(),
      train: TrainSchema,
      eval: EvalSchema.default({}),
      seed: nonNegativeInt.default(0),
    })
    .strict()
    .transform((cell) => ({
      ...cell,
      // the protocol a zero-shot cell is judged by, written out (config.json holds every setting)
      dataset:
        cell.dataset.split === 'zeroshot'
          ? { ...cell.dataset, protocol: cell.dataset.protocol ?? ('sem-pcyc' as const) }
          : cell.dataset,
      eval: {
        ...cell.eval,
        distance: cell.eval.distance ?? defaultRetrievalDistance(cell.loss.name as string),
      },
    }));
}

export type CellSettings = z.infer<ReturnType<typeof composeCellConfigSchema>>;
/** A cell's loss: its name and its options, defaults filled in (`annealSteps` may be 'auto'). */
export interface LossSettings {
  name: LossName;
  [option: string]: unknown;
}

export type AxisValue = string | number | boolean;

/** The resolved config of one cell: config.json in the run store (README "config.json"). */
export interface CellConfig extends CellSettings {
  formatVersion: 1;
  experiment: string;
  cellId: string;
  /** The grid values of this cell (named overrides appear by name). */
  axes: Record<string, AxisValue>;
  /** The command-line overrides in effect when this config was resolved (as typed; not part of the id). */
  overrides?: string[];
  /**
   * Every effective setting as the code resolved it when the cell started (README "config.json"):
   * the network (`SbirNet.getConfig()`: block, hidden activation, domain-aware stages, groups, padding,
   * BatchNorm, pretrained tensors loaded and left), the loss options, the input pipeline and the
   * optimiser. Derived from the settings, so not part of the cell id; a diff of two cells shows it.
   */
  resolved?: Record<string, unknown>;
}

/** Where the cells run (README "Running on a Slurm cluster"); `--executor` wins over `name`. */
export const EXECUTORS = ['local', 'slurm'] as const;
export type ExecutorName = (typeof EXECUTORS)[number];
const slurmWord = z
  .string()
  .min(1)
  .regex(/^[^\s]+$/, 'expected one word without spaces');
/** sbatch options the executor sets itself (the array, its output, the hold): not in `sbatchArgs`. */
export const RESERVED_SBATCH_OPTIONS = [
  'array',
  'output',
  'error',
  'hold',
  'parsable',
  'chdir',
  'open-mode',
  'job-name',
  'signal',
  'requeue',
  'no-requeue',
];

/**
 * `sbatchArgs`: argv elements as sbatch takes them: `--name=value`, `--flag`, `--name value` (two
 * elements), `-X value` or `-Xvalue`. Options the executor sets itself are refused.
 */
const sbatchArgsSchema = z.array(z.string().min(1)).superRefine((args, ctx) => {
  let valueOf: string | null = null;
  args.forEach((a, i) => {
    const long = /^--([a-z][a-z-]*)(=[\s\S]*)?$/.exec(a);
    const short = /^-([A-Za-z])([\s\S]*)$/.exec(a);
    if (long && RESERVED_SBATCH_OPTIONS.includes(long[1]!)) {
      ctx.addIssue({ code: 'custom', path: [i], message: `--${long[1]} is set by the executor itself` });
      return;
    }
    if (long || short) {
      valueOf = (long && !long[2]) || (short && !short[2]) ? a : null;
      return;
    }
    if (valueOf !== null && !a.startsWith('-')) {
      valueOf = null; // the value of the option before it (`--gpus 1`)
      return;
    }
    ctx.addIssue({
      code: 'custom',
      path: [i],
      message: 'expected an sbatch option such as --constraint=a100, --gpus 1 or -G 1',
    });
  });
});

const executorFields = {
  /** sbatch options (each becomes one argv element, never a shell string). */
  partition: slurmWord.optional(),
  /** Time limit per task in Slurm's format (`2-00:00:00`, `90`, `1:30:00`). */
  time: z
    .string()
    .regex(/^(\d+-)?\d+(:\d+){0,2}$/, 'expected a Slurm time limit such as 90, 1:30:00 or 2-00:00:00')
    .optional(),
  cpusPerTask: positiveInt.optional(),
  mem: z
    .string()
    .regex(/^\d+[KMGT]?$/, 'expected a Slurm memory size such as 16G')
    .optional(),
  /** e.g. `gpu:1`; a task granted a GPU trains with the tensorflow-gpu backend (`--backend auto`). */
  gres: slurmWord.optional(),
  /** At most this many tasks of the array at once (`--array=0-N%P`). */
  arrayParallelism: positiveInt.optional(),
  account: slurmWord.optional(),
  qos: slurmWord.optional(),
  /** Extra sbatch options (see sbatchArgsSchema). */
  sbatchArgs: sbatchArgsSchema.default([]),
  /** Shell lines the job script runs before the cell (`module load ...`); one line each. */
  setup: z.array(z.string().regex(/^[^\n\r]*$/, 'expected one line')).default([]),
  /**
   * Requeue: Slurm requeues a preempted or node-lost task, and a task that reaches its time limit
   * checkpoints and requeues itself (`--signal`, then `scontrol requeue`); the requeued task resumes.
   */
  requeue: z.boolean().default(false),
  /** With `requeue`: seconds before the time limit at which Slurm signals the task (`--signal=B:USR1@<s>`). */
  signalBefore: positiveInt.max(65535).default(120),
  /** With `requeue`: automatic requeues of one task at its time limit; then it ends `interrupted`. */
  maxRequeues: z.number().int().min(0).default(3),
  /** The node binary on the compute nodes (default: the one running the ablation). */
  node: z.string().min(1).optional(),
};

/** Settings a `vary` entry may change for the cells of one axis value (not `name`, not `vary`). */
const ExecutorVariantSchema = z
  .object(Object.fromEntries(Object.entries(executorFields).map(([k, v]) => [k, v.optional()])))
  .strict() as z.ZodType<
  Partial<{ [K in keyof typeof executorFields]: z.infer<(typeof executorFields)[K]> }>
>;

export const ExecutorSchema = z
  .object({
    name: z.enum(EXECUTORS).default('local'),
    ...executorFields,
    /**
     * Per-cell resources: `vary: { <axis>: { <value>: { time: "96:00:00" } } }` changes the settings
     * of the cells with that axis value (later axes win); cells with different settings become
     * separate job arrays of one submission.
     */
    vary: z.record(z.string(), z.record(z.string(), ExecutorVariantSchema)).default({}),
  })
  .strict();
export type ExecutorSettings = z.infer<typeof ExecutorSchema>;

const fragment = z.record(z.unknown());

const axisScalar = z.union([z.string(), z.number(), z.boolean()]);
const axisName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'expected a name (letters, digits, "_", "-", ".")');

/** The eval.json metrics a sensitivity study may judge its claims by. */
export const SENSITIVITY_METRICS = ['mAP@all', 'P@200', 'mAP@200'] as const;

/**
 * `sensitivity:` (issue 15): the grid's cells again with one factor at a time moved off its base value.
 * A claim is an ordering on one grid axis ("treatment > baseline"); a factor is a config path and the
 * values it takes. Cells outside a factor's `when` (softmax for the MEMS margin) are not varied.
 */
/** An ordering on one grid axis, "treatment > baseline" (sensitivity claims, the experiment's claims). */
export const ClaimSchema = z.object({ axis: axisName, baseline: axisScalar, treatment: axisScalar }).strict();
export type ClaimSettings = z.infer<typeof ClaimSchema>;

export const SensitivitySchema = z
  .object({
    /** The eval.json metric the verdicts use. */
    metric: z.enum(SENSITIVITY_METRICS).default('mAP@all'),
    claims: z.array(ClaimSchema).min(1),
    factors: z.record(
      axisName,
      z
        .object({
          /** A config path (`train.steps`, `loss.margin`) or a scalar axis alias (`inputSize`). */
          path: axisName,
          /** The values tried; one of them is the base config's (the baseline cells). */
          values: z.array(axisScalar).min(2),
          /** Grid axis values a cell must have to be varied (`{ loss: mems }`); default: every cell. */
          when: z.record(axisName, axisScalar).default({}),
        })
        .strict(),
    ),
  })
  .strict();
export type SensitivitySettings = z.infer<typeof SensitivitySchema>;

export const ExperimentFileSchema = z
  .object({
    /** Folder name under runs/ and MLflow experiment name. */
    name: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9_-]*$/,
        'name must be lower-case letters, digits, "-" or "_" (it names a folder)',
      ),
    description: z.string().default(''),
    /** Config shared by every cell; axes override parts of it. */
    base: fragment.default({}),
    /** Options per loss name, applied when a cell's loss is given by name (`loss: mems`). */
    losses: z.record(fragment).default({}),
    /**
     * Axes; the cells are their product (first axis outermost). An axis is a list of scalars for a
     * config path (an alias such as `block` or a dotted path such as `train.lr`), or a map from value
     * names to config fragments merged onto the base.
     */
    grid: z.record(z.unknown()).default({}),
    /** Where the cells run; not part of any cell id or of configSha256. */
    executor: ExecutorSchema.optional(),
    /** A one-factor-at-a-time sensitivity study around the grid (adds cells; see SensitivitySchema). */
    sensitivity: SensitivitySchema.optional(),
    /**
     * Orderings the report judges over the grid's own cells (paired by seed and the other axes), e.g.
     * `{ axis: method, baseline: dase-softmax, treatment: ssgn }`; recorded in experiment.json.
     */
    claims: z.array(ClaimSchema).min(1).optional(),
  })
  .strict();

export type ExperimentFile = z.infer<typeof ExperimentFileSchema>;

/** Scalar axis aliases: axis name -> config path. Any other scalar axis must be a dotted config path. */
export const AXIS_ALIASES: Record<string, string> = {
  block: 'model.block',
  backbone: 'model.backbone',
  loss: 'loss',
  seed: 'seed',
  optimizer: 'train.optimizer',
  lr: 'train.lr',
  schedule: 'train.schedule',
  split: 'dataset.split',
  embeddingDim: 'model.embeddingDim',
  inputSize: 'model.inputSize',
  kind: 'model.kind',
};

/** Unwraps defaults, optionals and refinements down to the schema that does the checking. */
function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodDefault) s = s._def.innerType;
    else if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodEffects) s = s.innerType();
    else return s;
  }
}

/**
 * The keys an object schema accepts at `path` of the cell config (for "unknown key" messages and for
 * checking scalar axis paths). For a discriminated union (the loss, train.augment), `variant` (its
 * `name`) picks the option. Returns null when `path` is not an object in the schema.
 */
export function knownKeysAt(
  path: (string | number)[],
  variant?: string,
  schema: z.ZodTypeAny = cellConfigSchema(),
): string[] | null {
  let s: z.ZodTypeAny = schema;
  for (const key of path) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) {
      const child = (s.shape as Record<string, z.ZodTypeAny>)[String(key)];
      if (!child) return null;
      s = child;
    } else {
      return null;
    }
  }
  s = unwrap(s);
  if (s instanceof z.ZodDiscriminatedUnion) {
    const option = variant !== undefined ? s.optionsMap.get(variant) : undefined;
    return option ? Object.keys(option.shape) : ['name'];
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : null;
}

/** True when `path` names a field of the cell config (used to check scalar axes). */
export function isConfigPath(path: string[]): boolean {
  if (path.length === 0) return false;
  if (path.length === 1 && path[0] === 'loss') return true;
  const schema = cellConfigSchema();
  if (path[0] === 'loss')
    return (
      path.length === 2 && listLosses().some((n) => knownKeysAt(['loss'], n, schema)?.includes(path[1]!))
    );
  const parent = knownKeysAt(path.slice(0, -1), undefined, schema);
  return parent !== null && parent.includes(path[path.length - 1]!);
}

/** True when `path` is a free-form map in the schema (`dataset.prepare`): any key below it is allowed. */
export function isFreeFormPath(path: string[]): boolean {
  let s: z.ZodTypeAny = cellConfigSchema();
  for (const key of path) {
    s = unwrap(s);
    if (s instanceof z.ZodRecord) return true;
    if (!(s instanceof z.ZodObject)) return false;
    const child = (s.shape as Record<string, z.ZodTypeAny>)[key];
    if (!child) return false;
    s = child;
  }
  return unwrap(s) instanceof z.ZodRecord;
}
