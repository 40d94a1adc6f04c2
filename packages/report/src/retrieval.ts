/**
 * Retrieval examples: each query sketch with its top-k photos, wrong ones marked. One pure SVG builder
 * (images inlined as data URIs so the SVG stands alone and sharp can turn it into a PNG) and the I/O
 * that loads the thumbnails named in retrieval.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Retrieval } from './store/schema';
import { escapeHtml } from './util/html';
import { regularFileInside } from './util/paths';

export interface GridImage {
  /** data: URI or relative URL; undefined draws a placeholder */
  href?: string;
  category: string;
  correct?: boolean;
  distance?: number | null;
}

export interface GridRow {
  query: GridImage;
  results: GridImage[];
}

const TILE = 84;
const GAP = 8;
const LABEL = 16;
const LEFT = 12;
const QUERY_GAP = 22;

/** The grid as standalone SVG (pure). */
export function retrievalGridSvg(rows: GridRow[], opts: { title?: string; k?: number } = {}): string {
  const k = opts.k ?? Math.max(0, ...rows.map((r) => r.results.length));
  const width = LEFT * 2 + TILE + QUERY_GAP + k * (TILE + GAP) - GAP;
  const top = opts.title ? 56 : 36;
  const rowH = TILE + LABEL + 14;
  const height = top + rows.length * rowH + 8;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Inter, Helvetica, Arial, DejaVu Sans, sans-serif">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  if (opts.title)
    parts.push(
      `<text x="${LEFT}" y="22" font-size="14" font-weight="600" fill="#111827">${escapeHtml(opts.title)}</text>`,
    );
  const hy = top - 12;
  parts.push(`<text x="${LEFT}" y="${hy}" font-size="11" fill="#6b7280">query sketch</text>`);
  parts.push(
    `<text x="${LEFT + TILE + QUERY_GAP}" y="${hy}" font-size="11" fill="#6b7280">top-${k} photos (red = wrong category)</text>`,
  );
  const tile = (img: GridImage, x: number, y: number, border: string, label: string, labelColor: string) => {
    const tip = `${img.category}${typeof img.distance === 'number' ? ` (distance ${img.distance.toFixed(3)})` : ''}`;
    parts.push(`<g><title>${escapeHtml(tip)}</title>`);
    parts.push(
      `<rect x="${x - 2}" y="${y - 2}" width="${TILE + 4}" height="${TILE + 4}" rx="4" fill="${border}"/>`,
    );
    parts.push(`<rect x="${x}" y="${y}" width="${TILE}" height="${TILE}" fill="#f3f4f6"/>`);
    if (img.href)
      parts.push(
        `<image x="${x}" y="${y}" width="${TILE}" height="${TILE}" preserveAspectRatio="xMidYMid meet" href="${escapeHtml(img.href)}" xlink:href="${escapeHtml(img.href)}"/>`,
      );
    const short = label.length > 15 ? `${label.slice(0, 14)}…` : label;
    parts.push(
      `<text x="${x + TILE / 2}" y="${y + TILE + 14}" font-size="10" text-anchor="middle" fill="${labelColor}">${escapeHtml(short)}</text></g>`,
    );
  };
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    tile(r.query, LEFT, y, '#111827', r.query.category, '#111827');
    r.results.slice(0, k).forEach((res, j) => {
      const x = LEFT + TILE + QUERY_GAP + j * (TILE + GAP);
      const ok = res.correct !== false;
      tile(res, x, y, ok ? '#10b981' : '#ef4444', res.category, ok ? '#374151' : '#b91c1c');
      if (!ok)
        parts.push(
          `<text x="${x + TILE - 6}" y="${y + 16}" font-size="15" font-weight="700" text-anchor="end" fill="#ef4444" stroke="#ffffff" stroke-width="3" paint-order="stroke">✗</text>`,
        );
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function dataUri(file: string): string | undefined {
  try {
    const buf = fs.readFileSync(file);
    const ext = path.extname(file).toLowerCase();
    const mime =
      ext === '.jpg' || ext === '.jpeg' ? 'image/jpeg' : ext === '.webp' ? 'image/webp' : 'image/png';
    return `data:${mime};base64,${buf.toString('base64')}`;
  } catch {
    return undefined;
  }
}

/**
 * Resolves an image path from retrieval.json against the cell folder: only a regular file (no symbolic
 * link) whose real path stays inside the cell folder, else undefined (drawn as a placeholder).
 */
export function resolveCellFile(cellDir: string, rel: string | null | undefined): string | undefined {
  return regularFileInside(cellDir, rel);
}

/** Grid rows with the thumbnails inlined (for the standalone SVG/PNG). */
export function loadGridRows(cellDir: string, r: Retrieval, maxQueries = 6): GridRow[] {
  const img = (rel: string | null | undefined) => {
    const f = resolveCellFile(cellDir, rel);
    return f ? dataUri(f) : undefined;
  };
  return r.queries.slice(0, maxQueries).map((q) => ({
    query: { href: img(q.image), category: q.category },
    results: q.results.map((res) => ({
      href: img(res.image),
      category: res.category,
      correct: res.correct,
      distance: res.distance,
    })),
  }));
}
