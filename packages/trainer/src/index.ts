/** @sbir/trainer: experiment grids from yaml, the run store, worker processes, and the MLflow mirror. */
export {
  loadExperiment,
  expandExperiment,
  canonicalJson,
  cellIdOf,
  axesLabel,
  resolveExperimentFile,
  listExperimentFiles,
} from './grid';
export type { Experiment, LoadOptions } from './grid';
export { cellConfigSchema, lossSchema, modelSchema, ExperimentFileSchema, AXIS_ALIASES } from './schema';
export type { CellConfig, CellSettings, AxisValue } from './schema';
export { ConfigError } from './messages';
export { RunStore, CellStore, planCell, FORMAT_VERSION } from './run-store';
export { dumpCheckpoint, restoreCheckpoint } from './checkpoint';
export type { TrainerState } from './checkpoint';
export type {
  CellStatus,
  SlurmCellInfo,
  CellState,
  MetricLine,
  StepLine,
  EpochLine,
  ExperimentMeta,
} from './run-store';
export {
  runAblation,
  selectCells,
  planCells,
  workerLayout,
  summaryTable,
  gridTable,
  chooseExecutor,
} from './ablation';
export type { AblationOptions, AblationResult } from './ablation';
export { claimCell } from './executor';
export type { Executor, ExecutionContext, ExecutionResult, PlannedCell, Plan } from './executor';
export { LocalExecutor } from './local-executor';
export { SlurmExecutor, reconcileSlurmCells } from './slurm/executor';
export { acquireClaim, readClaim, staleReason, CLAIM_FILE } from './claim';
export type { Claim, ClaimOwner, ClaimRecord, ClaimProbe } from './claim';
export { experimentStatus } from './status';
export { ExecutorSchema, EXECUTORS } from './schema';
export type { ExecutorSettings, ExecutorName } from './schema';
export { runCell } from './cell';
export { registerCellCallbacks } from './callbacks';
export type { CellLoop, CellContext, StepOutput, EpochEnd } from './loop';
export type { Callback, CellOutcome, CellProgress, CellStartInfo } from './protocol';
export { syncExperiment } from './sync';
export { MlflowClient, MlflowError, mlflowKey } from './mlflow/client';
export { MlflowMirror, flattenParams, metricPoints, runStatusOf, CELL_ID_TAG } from './mlflow/mirror';
export { trainerOptions, ablationOptions, ablationRequest } from './cli';
export type { AblationArgv } from './cli';
export { parseOverride, parseOverrides } from './overrides';
export type { Override, OverrideValue } from './overrides';
export { writeExperimentMeta, staleCellIds } from './experiment-meta';
export type { CellSetChange, ExperimentMetaV1 } from './experiment-meta';
export { readLineage, writeLineage } from './lineage';
export type { Lineage, DatasetLineage, GitLineage } from './lineage';
export { lineageTags, datasetInput, EXPERIMENT_KIND, EXPERIMENT_KIND_TAG } from './mlflow/mirror';
