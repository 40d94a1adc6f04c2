/** Adapters filed by name, as timm files models: `registerAdapter`, `getAdapter`, `listAdapters`. */
import type { z } from 'zod';
import { DataError, messages } from '../errors';
import { PREPARE_OPTION_NAMES, type DatasetAdapter } from '../types';
import { emojiAdapter } from './emoji';
import { folderAdapter } from './folder';
import { optionShape } from './options';
import { quickdrawAdapter } from './quickdraw';
import { sketchyAdapter } from './sketchy';
import { tuberlinAdapter } from './tuberlin';

const registry = new Map<string, DatasetAdapter>();

/** Registers an adapter; an empty or duplicate name is an error. */
export function registerAdapter(adapter: DatasetAdapter): DatasetAdapter {
  if (!adapter.name || !/^[a-z0-9][a-z0-9-]*$/.test(adapter.name)) {
    throw new Error(
      `adapter name must be lower-case letters, digits and dashes, got ${JSON.stringify(adapter.name)}`,
    );
  }
  if (registry.has(adapter.name)) throw new Error(`adapter "${adapter.name}" is already registered`);
  for (const [name, field] of Object.entries(adapter.options.shape))
    checkDeclaration(adapter.name, name, field);
  registry.set(adapter.name, adapter);
  return adapter;
}

/**
 * An adapter option must have a command-line form, must not shadow a prepare option, and must have the
 * same type as the option of that name in the adapters registered before (they share one flag).
 */
function checkDeclaration(adapter: string, name: string, field: z.ZodTypeAny): void {
  const where = `adapter "${adapter}" option "${name}"`;
  if ((PREPARE_OPTION_NAMES as readonly string[]).includes(name))
    throw new Error(`${where} shadows the prepare option of that name`);
  const shape = optionShape(field);
  const earlier = listAdapterOptions().find((o) => o.name === name)?.declaredBy[0];
  if (!earlier) return;
  const other = optionShape(earlier.field);
  if (other.type !== shape.type || String(other.choices) !== String(shape.choices)) {
    throw new Error(
      `${where} is a ${shape.type}${shape.choices ? ` (${shape.choices.join('|')})` : ''} but adapter "${earlier.adapter}" declares it a ${other.type}${other.choices ? ` (${other.choices.join('|')})` : ''}`,
    );
  }
}

/** The adapter filed under `name`; an unknown name is a one-line error listing the known ones. */
export function getAdapter(name: string): DatasetAdapter {
  const a = registry.get(name);
  if (!a) throw new DataError('unknown-dataset', messages.unknownDataset(name, listAdapters()));
  return a;
}

export function listAdapters(): string[] {
  return [...registry.keys()].sort();
}

/** One adapter option as declared, with every adapter that declares it (an option may be shared). */
export interface DeclaredOption {
  name: string;
  declaredBy: { adapter: string; field: z.ZodTypeAny }[];
}

/** The own options of every registered adapter, in registration order, each once. */
export function listAdapterOptions(): DeclaredOption[] {
  const byName = new Map<string, DeclaredOption>();
  for (const a of registry.values()) {
    for (const [name, field] of Object.entries(a.options.shape)) {
      const d = byName.get(name) ?? { name, declaredBy: [] };
      d.declaredBy.push({ adapter: a.name, field });
      byName.set(name, d);
    }
  }
  return [...byName.values()];
}

for (const a of [emojiAdapter, sketchyAdapter, tuberlinAdapter, quickdrawAdapter, folderAdapter])
  registerAdapter(a);
