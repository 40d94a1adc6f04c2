/**
 * A setting that fails a check, as data: the path of the field (`['model', 'seReduction']`) and what is
 * wrong with it. Packages below the trainer throw it so that the experiment schema can report the
 * problem at the yaml path that supplied the value without parsing the message text back.
 */
import { formatPath, type IssuePath } from './zod-issues';

/** One problem with one setting: where (`path`, from the config's root) and what (`message`). */
export interface ConfigIssue {
  path: IssuePath;
  message: string;
}

/** An error carrying a `ConfigIssue`; its text is the one-line `<path>: <message>`. */
export class ConfigIssueError extends Error {
  override name = 'ConfigIssueError';
  readonly issue: ConfigIssue;

  constructor(path: IssuePath, message: string) {
    super(path.length > 0 ? `${formatPath(path)}: ${message}` : message);
    this.issue = { path: [...path], message };
  }
}

/** The structured issue an error carries (a `ConfigIssueError`, or any error with an `issue`), else null. */
export function configIssueOf(err: unknown): ConfigIssue | null {
  if (err instanceof ConfigIssueError) return err.issue;
  const issue = (err as { issue?: unknown } | null)?.issue as Partial<ConfigIssue> | undefined;
  return issue && Array.isArray(issue.path) && typeof issue.message === 'string'
    ? { path: issue.path, message: issue.message }
    : null;
}
