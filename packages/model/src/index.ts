export {
  initBackend,
  isNativeBackend,
  currentBackend,
  BACKEND_NAMES,
  CPU_BACKEND_WARNING,
  GPU_INSTALL_HINT,
} from './backend';
export type { BackendName, BackendInfo, InitBackendOptions } from './backend';
export { Rng } from './rng';
export { ParamStore } from './params';
export {
  SEModule,
  createAttn,
  registerBlock,
  listBlocks,
  resolveBlockConfig,
  ATTN_TYPES,
  HIDDEN_ACTIVATIONS,
  DEFAULT_SE_REDUCTION,
  DEFAULT_HIDDEN_ACTIVATION,
  DEFAULT_DOMAIN_AWARE_STAGES,
} from './blocks';
export type {
  AttnType,
  AttentionModule,
  BlockEntry,
  BlockOptions,
  SEBlockArgs,
  HiddenActivation,
  ResolvedBlockConfig,
} from './blocks';
export {
  registerBackbone,
  createBackbone,
  listBackbones,
  getBackboneSpec,
  ResNetBackbone,
} from './backbones';
export type {
  BackboneSpec,
  BackboneConfig,
  UnitKind,
  ForwardContext,
  ResolvedBackboneConfig,
} from './backbones';
export { SbirNet, validateModelConfig } from './model';
export {
  DEFAULT_MODEL_KIND,
  createModel,
  getModelKind,
  listModelKinds,
  registerModelKind,
  resolveModelKindOptions,
  SSGN_DECODERS,
  SSGN_TEST_SEMANTICS,
  SsgnOptionsSchema,
} from './kinds';
export type {
  ClassVectors,
  ModelKindEntry,
  ModelKindEnv,
  ResolvedNetConfig,
  RetrievalNet,
  SsgnOptions,
  SsgnDecoder,
  TrainForwardContext,
  TrainForwardOutput,
} from './kinds';
export type { ModelConfig, ModelOutput, ResolvedModelConfig } from './model';
export {
  LOSS_NAMES,
  createLoss,
  lossDefaults,
  describeLosses,
  resolveLossOptions,
  annealFactor,
  crossEntropy,
  memsLogits,
  cosfaceLogits,
  arcfaceLogits,
  contrastiveLoss,
  tripletBatchHardLoss,
  squaredDistances,
  pairwiseDistances,
  l2normalize,
  regressionLoss,
} from './losses';
export type { LossName, LossConfig, LossContext, LossEnv, MetricLoss } from './losses';
export { Optimizer, learningRate, OPTIMIZER_NAMES, SCHEDULE_NAMES } from './optim';
export type { OptimizerConfig, OptimizerName, ScheduleName, ParamGroup } from './optim';
export {
  prepareInput,
  sampleAugmentBoxes,
  sampleAuthorsDraws,
  pixelCentreBoxes,
  rotationTransforms,
  authorsTestRegions,
  pipelineDefaults,
  resolveInputPipeline,
  PIPELINE_NAMES,
  NORMALIZATIONS,
  CHANNEL_ORDERS,
  ROTATE_INTERPOLATIONS,
  IMAGENET_MEAN,
  IMAGENET_STD,
} from './augment';
export type {
  AugmentOptions,
  ImageBatchLike,
  DomainBatchLike,
  InputPipeline,
  InputPipelineConfig,
  AuthorsPipeline,
  CropFlipPipeline,
  NoAugmentPipeline,
  PipelineName,
  Normalization,
  ChannelOrder,
  RotateInterpolation,
  AuthorsDraws,
} from './augment';
export { createTrainer } from './trainer';
export { STEP_MODES } from './graph/step';
export type { StepMode, StepStatus } from './graph/step';
export type {
  SbirTrainer,
  TrainerConfig,
  TrainBatch,
  EmbedBatch,
  EmbedResult,
  TrainStepResult,
} from './trainer';
export { writeTensorFile, readTensorFile, saveTensorDir, loadTensorDir } from './tensorfile';
export type { NamedArray, TensorManifest, TensorDType } from './tensorfile';
export {
  meanAveragePrecision,
  precisionAtK,
  hammingMeanAveragePrecision,
  evaluateRetrieval,
  hammingRetrieval,
  relevantRanks,
  normalizeRows,
  defaultRetrievalDistance,
  RETRIEVAL_DISTANCES,
} from './metrics';
export type {
  MetricOptions,
  RetrievalSet,
  RetrievalResult,
  RankingSummary,
  RetrievalDistance,
} from './metrics';
export { distanceStatistics } from './stats';
export type { DistanceStats, DistanceStatsOptions, ClassDistanceStats } from './stats';
export { batchNorm, relu, dense, matMul2d, spatialMean, detach, ResourceVariable } from './ops';
export { conv2d, maxPool2d, poolOutputSize, hasGroupedConvGradKernel, setGroupedConvGradRoute } from './conv';
export type { ConvOptions, MaxPoolOptions } from './conv';
export { fromTorchLayout, transpose } from './import/layout';
export type { LayoutArray } from './import/layout';
export type { BatchNormVars, BatchNormOptions } from './ops';
export { trainCentreHash, flipMeanFeatures } from './hashing';
export type { CentreHash, CentreHashOptions } from './hashing';
export { measureTrainRate, measureMatmul } from './doctor';
export type { TrainRate, TrainRateOptions, MatmulRate } from './doctor';
export { importCheckpoint, backboneTargets, IMPORT_MANIFEST, ImportUsageError } from './import/importer';
export type { ImportOptions, ImportManifest, ImportResult } from './import/importer';
export { CHECKPOINT_FORMATS, detectFormat, readCheckpoint } from './import/formats';
export type { CheckpointFormat } from './import/formats';
export { CheckpointError } from './import/source';
export type { SourceCheckpoint, SourceTensor } from './import/source';
export {
  loadPretrained,
  readPretrainedDir,
  PRETRAINED_INITS,
  missingPretrainedMessage,
} from './import/pretrained';
export type { PretrainedInit, PretrainedReport } from './import/pretrained';
