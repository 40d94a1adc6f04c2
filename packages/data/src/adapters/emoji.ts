/**
 * The embedded default dataset: emoji drawn by seven open icon sets, shipped as npm packages, so
 * it builds on a fresh machine without a download.
 *
 * - sketch domain = line-art sets: fluent-emoji-high-contrast (MIT), emojione-monotone (CC BY 4.0);
 * - photo domain = colour sets: noto (Apache-2.0), twemoji (CC BY 4.0), openmoji (CC BY-SA 4.0),
 *   emojione (CC BY 4.0), fluent-emoji-flat (MIT).
 *
 * An instance is an emoji drawn by all seven sets; its category is its Unicode emoji subgroup
 * (emojibase-data, e.g. `animal-mammal`). Icon names are matched to emoji by the set's own
 * `chars.json` (codepoints) where it has one, else by the CLDR-annotation slug of the name against
 * emojibase labels and shortcodes (plus a few rewrites for older CLDR names). Subgroups with fewer
 * than `minInstances` (default 5) instances are dropped, so that every category has at least 10
 * sketches (2 queries + 8 training sketches) and 25 photos. The `component` group (skin tones,
 * hair) and the `flags` group (in line art, flags are near-identical rectangles) are left out.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as IconifyUtils from '@iconify/utils';
import { z } from 'zod';
import { DataError } from '../errors';
import type { AdapterOptions, DatasetAdapter, Domain, LicenseInfo, Sample, ScanResult } from '../types';
import { categoryKey, compareStrings } from './common';
import { adapterOption, readAdapterOptions } from './options';

type IconifyJSON = Parameters<typeof IconifyUtils.getIconData>[0];

/**
 * @iconify/utils 3 is an ES module. Node >= 20.19 can `require` it, but jest's module registry
 * cannot, so it is loaded lazily through Node's own loader (`process.getBuiltinModule` reaches
 * the real `node:module` even under jest); importing @sbir/data stays cheap.
 */
let iconify: typeof IconifyUtils | undefined;
function iconifyUtils(): typeof IconifyUtils {
  if (!iconify) {
    const builtin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
    const mod = (builtin ? builtin('node:module') : { createRequire }) as {
      createRequire: typeof createRequire;
    };
    iconify = mod.createRequire(__filename)('@iconify/utils') as typeof IconifyUtils;
  }
  return iconify;
}

export interface EmojiSet {
  prefix: string;
  domain: Domain;
}

export const EMOJI_SETS: readonly EmojiSet[] = [
  { prefix: 'fluent-emoji-high-contrast', domain: 'sketch' },
  { prefix: 'emojione-monotone', domain: 'sketch' },
  { prefix: 'noto', domain: 'photo' },
  { prefix: 'twemoji', domain: 'photo' },
  { prefix: 'openmoji', domain: 'photo' },
  { prefix: 'emojione', domain: 'photo' },
  { prefix: 'fluent-emoji-flat', domain: 'photo' },
];

export const EMOJI_MIN_INSTANCES = 5;

export const emojiOptions = z.object({
  maxPerCategory: adapterOption.positiveInt('instances per category'),
  minInstances: adapterOption.positiveIntWithDefault(
    'drop categories with fewer instances',
    EMOJI_MIN_INSTANCES,
  ),
});
export const EMOJI_EXCLUDED_GROUPS = ['component', 'flags'];

/**
 * Older CLDR annotations used as icon names by the emojione sets (no chars.json there), mapped
 * to the current annotation slug. Everything else is matched by rule.
 */
const LEGACY_NAMES: Record<string, string> = {
  'a-button': 'a-button-blood-type',
  'b-button': 'b-button-blood-type',
  'ab-button': 'ab-button-blood-type',
  'o-button': 'o-button-blood-type',
  'grinning-cat-face': 'grinning-cat',
  'grinning-cat-face-with-smiling-eyes': 'grinning-cat-with-smiling-eyes',
  'cat-face-with-tears-of-joy': 'cat-with-tears-of-joy',
  'cat-face-with-wry-smile': 'cat-with-wry-smile',
  'kissing-cat-face': 'kissing-cat',
  'pouting-cat-face': 'pouting-cat',
  'smiling-cat-face-with-heart-eyes': 'smiling-cat-with-heart-eyes',
  'weary-cat-face': 'weary-cat',
  'heavy-large-circle': 'hollow-red-circle',
  'white-heavy-check-mark': 'check-mark-button',
  'laptop-computer': 'laptop',
  'exclamation-mark': 'red-exclamation-mark',
  'man-in-suit-levitating': 'person-in-suit-levitating',
};

interface EmojibaseEntry {
  label: string;
  hexcode: string;
  group?: number;
  subgroup?: number;
  order?: number;
  skins?: EmojibaseEntry[];
}

interface EmojiInfo {
  hex: string;
  slug: string;
  subgroup: string;
  group: string;
  order: number;
}

/** Annotation slug as iconify writes names: `A button (blood type)` -> `a-button-blood-type`. */
export function annotationSlug(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/['\u2019]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** Codepoint sequence without variation selectors: `2764-FE0F` -> `2764`. */
export function normalizeHex(hex: string): string {
  return hex
    .toUpperCase()
    .split(/[-\s]/)
    .filter((p) => p && p !== 'FE0F' && p !== 'FE0E')
    .join('-');
}

function readJson<T>(request: string): T {
  let file: string;
  try {
    file = require.resolve(request);
  } catch {
    throw new DataError(
      'missing-dir',
      `emoji dataset: package file ${request} is not installed (run npm ci at the repository root)`,
    );
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

interface Emojibase {
  byHex: Map<string, EmojiInfo>;
  bySlug: Map<string, string>;
  version: string;
}

function loadEmojibase(): Emojibase {
  const data = readJson<EmojibaseEntry[]>('emojibase-data/en/data.json');
  const meta = readJson<{ groups: Record<string, string>; subgroups: Record<string, string> }>(
    'emojibase-data/meta/groups.json',
  );
  const byHex = new Map<string, EmojiInfo>();
  const bySlug = new Map<string, string>();
  const addSlug = (slug: string, hex: string) => {
    if (slug && !bySlug.has(slug)) bySlug.set(slug, hex);
  };
  for (const e of data) {
    if (e.group === undefined || e.subgroup === undefined) continue;
    const hex = normalizeHex(e.hexcode);
    const slug = annotationSlug(e.label);
    byHex.set(hex, {
      hex,
      slug,
      group: meta.groups[String(e.group)],
      subgroup: meta.subgroups[String(e.subgroup)],
      order: e.order ?? 0,
    });
    addSlug(slug, hex);
    for (const s of e.skins ?? []) addSlug(annotationSlug(s.label), normalizeHex(s.hexcode)); // never instances: not in byHex
  }
  // Shortcodes name the same emoji in other vocabularies (cldr first: it is the annotation).
  for (const set of ['cldr', 'emojibase', 'joypixels', 'github', 'iamcal', 'emojibase-legacy']) {
    const codes = readJson<Record<string, string | string[]>>(`emojibase-data/en/shortcodes/${set}.json`);
    for (const [hex, names] of Object.entries(codes)) {
      for (const n of ([] as string[]).concat(names)) addSlug(annotationSlug(n), normalizeHex(hex));
    }
  }
  const version = readJson<{ version: string }>('emojibase-data/package.json').version;
  return { byHex, bySlug, version };
}

export interface SetMatch {
  prefix: string;
  icons: number;
  viaChars: number;
  viaName: number;
  unmatched: number;
  /** Normalised hex -> icon name. */
  byHex: Map<string, string>;
}

/** Map every icon of a set to an emoji codepoint sequence. */
function matchSet(
  prefix: string,
  icons: IconifyJSON,
  chars: Record<string, string>,
  eb: Emojibase,
): SetMatch {
  const byName = new Map<string, string>();
  for (const [hex, name] of Object.entries(chars)) if (!byName.has(name)) byName.set(name, normalizeHex(hex));
  const byHex = new Map<string, string>();
  let viaChars = 0;
  let viaName = 0;
  let unmatched = 0;
  const names = Object.keys(icons.icons).sort(compareStrings);
  // Two passes so that codepoint-matched names win over name-matched duplicates.
  const second: string[] = [];
  for (const name of names) {
    const hex = byName.get(name);
    if (hex === undefined) {
      second.push(name);
      continue;
    }
    viaChars++;
    if (!byHex.has(hex)) byHex.set(hex, name);
  }
  for (const name of second) {
    const rewritten = LEGACY_NAMES[name] ?? name.replace(/^flag-for-/, 'flag-').replace(/^digit-/, 'keycap-');
    const hex = eb.bySlug.get(name) ?? eb.bySlug.get(rewritten);
    if (hex === undefined) {
      unmatched++;
      continue;
    }
    viaName++;
    if (!byHex.has(hex)) byHex.set(hex, name);
  }
  return { prefix, icons: names.length, viaChars, viaName, unmatched, byHex };
}

function setLicense(prefix: string, domain: Domain): LicenseInfo {
  const info = readJson<{
    name: string;
    author?: { name: string; url?: string };
    license: { title: string; spdx: string; url?: string };
  }>(`@iconify-json/${prefix}/info.json`);
  const version = readJson<{ version: string }>(`@iconify-json/${prefix}/package.json`).version;
  const author = info.author?.name ?? 'unknown';
  return {
    name: prefix,
    domain,
    spdx: info.license.spdx,
    title: info.name,
    url: info.author?.url ?? info.license.url,
    author,
    attribution: `${info.name} by ${author}, ${info.license.title} (${info.license.url ?? info.license.spdx}); source ${info.author?.url ?? ''}, via Iconify @iconify-json/${prefix}@${version}. Rendered to raster by sbir-lab.`,
    package: `@iconify-json/${prefix}`,
    version,
  };
}

async function scan(given: AdapterOptions): Promise<ScanResult> {
  const opts = readAdapterOptions(emojiOptions, given);
  const eb = loadEmojibase();
  const { minInstances } = opts;
  const sets = new Map<string, IconifyJSON>();
  const matches: SetMatch[] = [];
  for (const { prefix } of EMOJI_SETS) {
    const icons = readJson<IconifyJSON>(`@iconify-json/${prefix}/icons.json`);
    const chars = readJson<Record<string, string>>(`@iconify-json/${prefix}/chars.json`);
    sets.set(prefix, icons);
    matches.push(matchSet(prefix, icons, chars, eb));
  }
  // Instances: emoji (base forms known to emojibase) that every set draws.
  const common = [...matches[0].byHex.keys()].filter(
    (hex) => eb.byHex.has(hex) && matches.every((m) => m.byHex.has(hex)),
  );
  const excluded = common.filter((hex) =>
    EMOJI_EXCLUDED_GROUPS.includes((eb.byHex.get(hex) as EmojiInfo).group),
  );
  const byCategory = new Map<string, EmojiInfo[]>();
  for (const hex of common) {
    const info = eb.byHex.get(hex) as EmojiInfo;
    if (EMOJI_EXCLUDED_GROUPS.includes(info.group)) continue;
    const list = byCategory.get(info.subgroup) ?? [];
    list.push(info);
    byCategory.set(info.subgroup, list);
  }
  const allCats = [...byCategory.keys()].sort(compareStrings);
  const dropped = allCats.filter((c) => (byCategory.get(c) as EmojiInfo[]).length < minInstances);
  let cats = allCats.filter((c) => !dropped.includes(c));
  if (opts.categories && opts.categories.length) {
    const wanted = new Map(opts.categories.map((c) => [categoryKey(c), c]));
    cats = cats.filter((c) => wanted.delete(categoryKey(c)));
    if (wanted.size)
      throw new DataError(
        'bad-option',
        `option --categories: not an emoji category with >= ${minInstances} instances: ${[...wanted.values()].join(', ')}`,
      );
  }
  if (opts.maxCategories !== undefined) cats = cats.slice(0, opts.maxCategories);
  if (cats.length === 0)
    throw new DataError(
      'bad-option',
      `option --min-instances: no emoji category has ${minInstances} or more instances`,
    );

  const samples: Sample[] = [];
  let instances = 0;
  for (const cat of cats) {
    const list = (byCategory.get(cat) as EmojiInfo[])
      .slice()
      .sort((a, b) => a.order - b.order || compareStrings(a.hex, b.hex));
    const kept = opts.maxPerCategory === undefined ? list : list.slice(0, opts.maxPerCategory);
    instances += kept.length;
    for (const info of kept) {
      for (const { prefix, domain } of EMOJI_SETS) {
        const name = (matches.find((m) => m.prefix === prefix) as SetMatch).byHex.get(info.hex) as string;
        samples.push({
          domain,
          category: cat,
          instance: info.slug,
          source: `${prefix}/${name}.svg`,
          ref: { set: prefix, name },
        });
      }
    }
  }

  const licenses = EMOJI_SETS.map((s) => setLicense(s.prefix, s.domain));
  licenses.push({
    name: 'emojibase-data',
    domain: 'metadata',
    spdx: 'MIT',
    title: 'Emojibase data (categories = Unicode emoji subgroups)',
    url: 'https://github.com/milesj/emojibase',
    author: 'Miles Johnson',
    attribution: `Emoji groups, labels and shortcodes from emojibase-data@${eb.version} by Miles Johnson, MIT.`,
    package: 'emojibase-data',
    version: eb.version,
  });

  return {
    samples,
    skipped: [],
    licenses,
    notes: {
      matching: matches.map(({ prefix, icons, viaChars, viaName, unmatched, byHex }) => ({
        set: prefix,
        icons,
        viaChars,
        viaName,
        unmatched,
        emoji: byHex.size,
      })),
      instancesInAllSets: common.length,
      excludedGroups: EMOJI_EXCLUDED_GROUPS,
      excludedInstances: excluded.length,
      minInstances,
      categoriesBeforeThreshold: allCats.length,
      droppedCategories: dropped.map((c) => `${c} (${(byCategory.get(c) as EmojiInfo[]).length})`),
      categories: cats.length,
      instances,
      emojibaseVersion: eb.version,
    },
    async load(s: Sample, size: number) {
      const ref = s.ref as { set: string; name: string };
      const { getIconData, iconToSVG } = iconifyUtils();
      const data = getIconData(sets.get(ref.set) as IconifyJSON, ref.name);
      if (!data) throw new Error(`icon ${ref.set}:${ref.name} not found`);
      const svg = iconToSVG(data, { height: size, width: size });
      const attrs = Object.entries(svg.attributes)
        .map(([k, v]) => `${k}="${v}"`)
        .join(' ');
      const body = svg.body.replace(/currentColor/g, '#000');
      return {
        kind: 'encoded',
        data: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" ${attrs}>${body}</svg>`),
      };
    },
  };
}

export const emojiAdapter: DatasetAdapter = {
  name: 'emoji',
  version: '1',
  description:
    'Embedded: line-art emoji sets (sketch) vs colour sets (photo), categories = Unicode subgroups',
  options: emojiOptions,
  needsRoot: false,
  defaultQueriesPerCategory: 2,
  defaultUnseen: 15,
  scan,
};
