/**
 * HTML built with escape-by-default templates: every interpolated value is escaped unless it is a
 * `SafeHtml` made by `html` itself or by `raw()`. Run names, config strings and error messages from the
 * run store can hold anything (a test uses `<script>`), so there is no other way to put text in a page.
 */
import { fnv1a32 } from '@sbir/core';

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Marks trusted markup (built by this package) as safe. */
export const raw = (s: string): SafeHtml => new SafeHtml(s);

type Interp = SafeHtml | string | number | boolean | null | undefined | readonly Interp[];

function render(v: Interp): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(v);
}

/** Tagged template: `html\`<td>${name}</td>\`` escapes `name`; arrays are joined; null/undefined/false vanish. */
export function html(strings: TemplateStringsArray, ...values: Interp[]): SafeHtml {
  let out = strings[0];
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1];
  });
  return new SafeHtml(out);
}

/**
 * JSON to put inside a <script> element: `<`, `>`, `&` and the JS line separators are written as \u escapes,
 * so no string in the data can close the element or open a comment.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A file or URL path segment that is safe everywhere: the name itself when plain, else a slug plus a hash. */
export function safeSegment(name: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$/.test(name)) return name;
  const h = fnv1a32(name);
  const slug = name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 40);
  return `${slug || 'x'}-${h.toString(16).padStart(8, '0')}`;
}
