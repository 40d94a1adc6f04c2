/**
 * Path confinement for an untrusted run store (run stores get shared, downloaded, synced). Every file
 * the report writes goes through `writeInside` / `copyInside`, which refuse a path that resolves outside
 * the output root, lexically or through a symbolic link already in the output folder. Every file it reads
 * by a name found in the store goes through `regularFileInside`, which accepts only regular files whose
 * real path stays in the folder they were named relative to.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { copyFileAtomicSync, displayPath, writeFileAtomicSync } from '@sbir/core';
import { ReportInputError, message } from '../messages';

/** True when `file` is `root` or below it (both resolved, no file system access). */
export function isInside(root: string, file: string): boolean {
  const rel = path.relative(path.resolve(root), path.resolve(file));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * The real path of `p` when it exists; else the real path of its nearest existing ancestor with the
 * missing part appended (what the path will be once created).
 */
function realPathOf(p: string): string {
  const missing: string[] = [];
  let cur = path.resolve(p);
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...missing);
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return path.join(cur, ...missing);
      missing.unshift(path.basename(cur));
      cur = up;
    }
  }
}

/**
 * Checks that `target` (absolute, or relative to `root`) stays below `root`, lexically and through
 * any symbolic link already on its path; creates nothing. Returns the absolute path.
 */
export function assertInsideOut(root: string, target: string): string {
  const abs = path.resolve(root, target);
  const shown = displayPath(path.resolve(root));
  if (abs === path.resolve(root) || !isInside(root, abs))
    throw new ReportInputError(message.outsideOut(displayPath(abs), shown), abs);
  if (!isInside(realPathOf(root), realPathOf(path.dirname(abs))))
    throw new ReportInputError(message.outsideOutLink(displayPath(abs), shown), abs);
  return abs;
}

/**
 * Before a report writes its first file: refuses an output folder that already holds a symbolic link
 * to a folder outside it (a write below it would be refused half-way, leaving half a report). A link
 * to a file is no danger: the atomic write replaces it. Reads only.
 */
export function assertNoLinkOut(root: string): void {
  const top = path.resolve(root);
  let real: string;
  try {
    real = fs.realpathSync(top);
  } catch {
    return; // not there yet: nothing to write through
  }
  const shown = displayPath(top);
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) walk(abs);
      else if (e.isSymbolicLink() && linksToFolderOutside(real, abs))
        throw new ReportInputError(message.outsideOutLink(displayPath(abs), shown), abs);
    }
  };
  walk(top);
}

function linksToFolderOutside(realRoot: string, link: string): boolean {
  try {
    return fs.statSync(link).isDirectory() && !isInside(realRoot, fs.realpathSync(link));
  } catch {
    return false; // dangling: a write replaces it like any file
  }
}

/** `assertInsideOut`, then creates the file's folder (and checks again: the folder is real now). */
export function confineOutput(root: string, file: string): string {
  const abs = assertInsideOut(root, file);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  return assertInsideOut(root, abs);
}

/**
 * Writes `content` to `file` below `root` atomically (@sbir/core: temp file, fsync, rename, fsync the
 * folder: a reader never sees half a file, and a symbolic link already at `file` is replaced, never
 * followed). Returns the absolute path.
 */
export function writeInside(root: string, file: string, content: string | Buffer): string {
  const abs = confineOutput(root, file);
  writeFileAtomicSync(abs, content, { mkdir: false });
  return abs;
}

/** Copies the regular file `src` to `file` below `root`, with the guarantees of `writeInside`. */
export function copyInside(root: string, src: string, file: string): string {
  const abs = confineOutput(root, file);
  copyFileAtomicSync(src, abs, { mkdir: false });
  return abs;
}

/**
 * `rel` (a name read from the store) resolved against `dir`, when it names a regular file (lstat: not a
 * symbolic link, device or folder) whose real path stays below the real `dir`; otherwise undefined.
 */
export function regularFileInside(dir: string, rel: string | null | undefined): string | undefined {
  if (!rel || rel.includes('\0')) return undefined;
  const abs = path.resolve(dir, rel);
  if (abs === path.resolve(dir) || !isInside(dir, abs)) return undefined;
  try {
    if (!fs.lstatSync(abs).isFile()) return undefined;
    return isInside(fs.realpathSync(dir), fs.realpathSync(abs)) ? abs : undefined;
  } catch {
    return undefined;
  }
}
