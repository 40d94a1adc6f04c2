/**
 * Checks on generated Markdown: what a permissive renderer makes of it (raw HTML on, every link scheme
 * allowed), and that the source carries no HTML entity outside code spans (it must read as text).
 */
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: true });
md.validateLink = () => true;

/** The HTML a renderer as permissive as they come writes for `source`. */
export const renderPermissive = (source: string): string => md.render(source);

/** The source with fenced code blocks and inline code spans blanked (a run of n backticks closes n). */
function withoutCode(source: string): string {
  return source
    .replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, '');
}

/**
 * The HTML entities (`&gt;`, `&#62;`, `&#x3e;`) in `source` outside code: an `&` not made literal by an
 * odd number of backslashes before it.
 */
export function htmlEntitiesOutsideCode(source: string): string[] {
  const re = /(?<=(?:^|[^\\])(?:\\\\)*)&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);/g;
  return [...withoutCode(source).matchAll(re)].map((m) => m[0]);
}

/** Elements the rendered HTML holds that no store string may create: tags beyond the report's own, live links. */
export function injectedHtml(source: string): string[] {
  const html = renderPermissive(source);
  const allowed = new Set(
    'h1 h2 h3 h4 p code pre table thead tbody tr th td strong ul li a img br'.split(' '),
  );
  const bad: string[] = [];
  for (const [tag, name, attrs] of html.matchAll(/<(\w+)([^>]*)>/g)) {
    const url = /(?:href|src)="([^"]*)"/.exec(attrs)?.[1];
    if (!allowed.has(name!) || /\son\w+=/i.test(attrs!) || (url !== undefined && !/^[\w./#-]+$/.test(url)))
      bad.push(tag);
  }
  return bad;
}
