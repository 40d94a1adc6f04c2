/**
 * Markdown from untrusted strings (names, descriptions and axis values come from a run store that may
 * have been downloaded). Markdown renderers pass raw HTML through and turn `[x](javascript:…)` into links,
 * so every store string is written with these helpers, in prose and headings as well as in table cells.
 */

/**
 * Characters escaped in text: HTML's `<`, `>` and `&` become entities (no tag, comment or entity survives);
 * the Markdown punctuation that starts links, images, emphasis, code, strikethrough or table cells gets
 * a backslash. Parentheses, `#` and `!` need none once `[` is escaped, so package prose reads unchanged.
 */
const INLINE = /[\\`*_[\]|~<>&]/g;
const ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;' };

/** One line of inline Markdown that renders as exactly `s` (line breaks become spaces). */
export function mdText(s: unknown): string {
  return String(s ?? '')
    .replace(/\r\n?|\n/g, ' ')
    .replace(INLINE, (c) => ENTITIES[c] ?? `\\${c}`);
}

/**
 * A paragraph (several lines kept) that renders as `s`: each line as `mdText`, and a line that would
 * start a heading, list, quote, thematic break or setext underline gets its first character escaped.
 */
export function mdParagraph(s: unknown): string {
  return String(s ?? '')
    .split(/\r\n?|\n/)
    .map((line) =>
      mdText(line).replace(
        /^(\s*)(\d*)([#+=.)-])/,
        (_, sp: string, d: string, m: string) => `${sp}${d}\\${m}`,
      ),
    )
    .join('\n');
}

/** An inline code span holding `s` verbatim: the fence is one backtick longer than any run inside. */
export function mdCode(s: string): string {
  const one = s.replace(/\r\n?|\n/g, ' ');
  const longest = Math.max(0, ...(one.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  const pad = one.startsWith('`') || one.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${one}${pad}${fence}`;
}

export { shellWord } from '@sbir/core';
