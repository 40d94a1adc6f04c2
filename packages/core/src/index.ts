/**
 * @sbir/core: the helpers every package shares (atomic writes, paths, statistics, terminal
 * formatting, hashing, zod messages, the CLI plumbing and the environment's defaults). No dependencies beyond node and zod; imports no other package.
 */
export {
  AtomicFile,
  activeTempFiles,
  atomicIo,
  copyFileAtomicSync,
  fsyncDir,
  fsyncDirSync,
  isTempName,
  removeActiveTempFilesSync,
  tempName,
  writeFileAtomic,
  writeFileAtomicSync,
  writeJsonAtomicSync,
  type AtomicWriteOptions,
  type WrapWriteError,
} from './atomic';
export { availableCores } from './cores';
export {
  EXIT,
  UsageError,
  errorLine,
  exitCodeFor,
  exitWithError,
  oneLine,
  printError,
  yargsFailure,
} from './cli';
export { ENV_DEFAULTS, ENV_VARIABLES, sbirEnv, type SbirEnv } from './env';
export { formatDuration, formatTable, type Align } from './format';
export { fnv1a32, sha256, sha256File, sha256FileSync, type HashProgress } from './hash';
export { shellWord } from './shell';
export { shuffleInPlace } from './shuffle';
export { displayPath, isDir } from './paths';
export {
  PYTHON_ENV_VAR,
  REPO_ROOT,
  ensureVenvPython,
  requireVenvPython,
  venvPython,
  venvTool,
} from './python';
export { mean, sampleStd } from './stats';
export {
  describeValue,
  fieldProblem,
  formatPath,
  issueSentence,
  quoteExcerpt,
  valueAt,
  type IssuePath,
} from './zod-issues';
export { ConfigIssueError, configIssueOf, type ConfigIssue } from './config-error';
