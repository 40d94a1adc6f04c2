/**
 * The paper's own numbers, transcribed by hand into experiments/paper-reference.yaml:
 * `results: [{ table, dataset, method, block, loss, backbone, metric, value, source, row, column }]`
 * plus free-form `paper`, `sources`, `notes`. The file is optional; unknown fields are kept.
 */
import * as fs from 'node:fs';
import { displayPath } from '@sbir/core';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ReportInputError, message } from '../messages';
import { parseWith } from './read';

const optStr = z.union([z.string(), z.number()]).transform(String).nullable().optional();

export const PaperResultSchema = z
  .object({
    table: optStr,
    dataset: z.string(),
    method: optStr,
    block: optStr,
    loss: optStr,
    backbone: optStr,
    metric: z.string(),
    value: z.number().nullable().optional(),
    source: optStr,
    row: optStr,
    column: optStr,
  })
  .passthrough();

export const PaperReferenceSchema = z
  .object({
    paper: z.unknown().optional(),
    sources: z.unknown().optional(),
    notes: z.unknown().optional(),
    results: z.array(PaperResultSchema).nullable().optional(),
  })
  .passthrough();

export type PaperResult = z.infer<typeof PaperResultSchema>;

export interface PaperReference {
  file: string;
  title?: string;
  results: PaperResult[];
}

function titleOf(paper: unknown): string | undefined {
  if (typeof paper === 'string') return paper;
  if (paper && typeof paper === 'object') {
    const t = (paper as Record<string, unknown>).title;
    if (typeof t === 'string') return t;
  }
  return undefined;
}

/** Reads the reference file; undefined when it does not exist. */
export function loadPaperReference(file: string): PaperReference | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ReportInputError(`${displayPath(file)}: ${(e as Error).message}`, file);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ReportInputError(
      message.invalidYaml(displayPath(file), (e as Error).message.split('\n')[0]),
      file,
    );
  }
  const ref = parseWith(PaperReferenceSchema, raw ?? {}, file);
  return { file, title: titleOf(ref.paper), results: ref.results ?? [] };
}
