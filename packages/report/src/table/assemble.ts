/**
 * assemble: the ablation table → Markdown, LaTeX (booktabs), CSV and HTML. Pure string builders that
 * share one layout, so the four formats always carry the same numbers.
 */
export { layout, tableNotes, type ColumnGroup } from './layout';
export { paperUnmatchedMarkdown, toMarkdown } from './markdown';
export { LATEX_COLUMN_WIDTH, LATEX_TEXT_WIDTH, texEscape, toLatex } from './latex';
export { csvField, toCsv } from './csv';
export { TABLE_CSS, toHtmlDocument, toHtmlTable } from './html-table';
