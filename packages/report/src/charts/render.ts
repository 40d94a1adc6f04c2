/**
 * Headless rendering: Vega-Lite → Vega (vega-lite compile) → SVG (a vega View with renderer 'none')
 * → PNG (sharp). The only impure part of the chart pipeline.
 */
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export function toVega(spec: TopLevelSpec): vega.Spec {
  return compile(spec).spec as vega.Spec;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(toVega(spec)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG text → PNG at `scale` × the SVG's pixel size. */
export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale })
    .flatten({ background: '#ffffff' })
    .png()
    .toBuffer();
}

export async function renderPng(spec: TopLevelSpec, scale = 2): Promise<Buffer> {
  return svgToPng(await renderSvg(spec), scale);
}
