/** Adapters filed by name, as timm files models: `registerAdapter`, `getAdapter`, `listAdapters`. */
import { DataError, messages } from '../errors';
import type { DatasetAdapter } from '../types';
import { emojiAdapter } from './emoji';
import { folderAdapter } from './folder';
import { quickdrawAdapter } from './quickdraw';
import { sketchyAdapter } from './sketchy';
import { tuberlinAdapter } from './tuberlin';

const registry = new Map<string, DatasetAdapter>();

/** Registers an adapter; an empty or duplicate name is an error. */
export function registerAdapter(adapter: DatasetAdapter): DatasetAdapter {
  if (!adapter.name || !/^[a-z0-9][a-z0-9-]*$/.test(adapter.name)) {
    throw new Error(`adapter name must be lower-case letters, digits and dashes, got ${JSON.stringify(adapter.name)}`);
  }
  if (registry.has(adapter.name)) throw new Error(`adapter "${adapter.name}" is already registered`);
  registry.set(adapter.name, adapter);
  return adapter;
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

for (const a of [emojiAdapter, sketchyAdapter, tuberlinAdapter, quickdrawAdapter, folderAdapter]) registerAdapter(a);
