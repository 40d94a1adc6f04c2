/** pdflatex checks shared by the table and sensitivity tests: the LaTeX a report writes must compile. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The pdflatex binary, when installed (CI installs it; the tests that need it skip without). */
export const PDFLATEX = ['/usr/bin/pdflatex', '/usr/local/bin/pdflatex'].find((p) => fs.existsSync(p));

/**
 * Inputs `inputs` (files in `dir`) into a one- and a two-column article, compiles each with pdflatex
 * and expects no error, no Overfull \hbox and a PDF.
 */
export function expectCompilesInArticles(dir: string, inputs: string[]): void {
  const body = inputs.map((f) => `\\input{${f}}\n`).join('');
  for (const cls of ['', '[twocolumn]']) {
    const name = cls ? 'two' : 'one';
    fs.writeFileSync(
      path.join(dir, `${name}.tex`),
      `\\documentclass${cls}{article}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n\\begin{document}\nText.\n${body}\\clearpage\n\\end{document}\n`,
    );
    const r = spawnSync(PDFLATEX as string, ['-interaction=nonstopmode', '-halt-on-error', `${name}.tex`], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stdout).not.toMatch(/^! /m);
    expect(r.status).toBe(0);
    const log = fs.readFileSync(path.join(dir, `${name}.log`), 'utf8');
    expect({ cls, overfull: log.match(/Overfull \\hbox.*/g) ?? [] }).toEqual({ cls, overfull: [] });
    expect(fs.existsSync(path.join(dir, `${name}.pdf`))).toBe(true);
  }
}
