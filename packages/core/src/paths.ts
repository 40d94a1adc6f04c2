/** Small file-system and path helpers shared by the CLIs. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A path as the user would type it: relative to `cwd` when under it, else absolute. */
export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : path.resolve(file);
}

/** True when `p` is a folder (following symbolic links); false when it is missing or unreadable. */
export function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
