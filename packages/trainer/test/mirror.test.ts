import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOG_BATCH_LIMITS, MlflowClient, mlflowKey } from '../src/mlflow/client';
import { artifactFiles, flattenParams, metricPoints, runStatusOf } from '../src/mlflow/mirror';
import { writeJsonAtomicSync } from '@sbir/core';
import { CellStore } from '../src/run-store';
import { tmpDir } from './fixtures';

test('metric keys are made legal for MLflow', () => {
  expect(mlflowKey('mAP@all')).toBe('mAP_all');
  expect(mlflowKey('final.hamming.P@200')).toBe('final.hamming.P_200');
  expect(mlflowKey('a/b c-d:e')).toBe('a/b c-d:e');
});

test('run status mirrors the cell state', () => {
  expect(
    ['queued', 'running', 'finished', 'failed', 'interrupted'].map((s) => runStatusOf(s as never)),
  ).toEqual(['SCHEDULED', 'RUNNING', 'FINISHED', 'FAILED', 'KILLED']);
});

test('params: the flattened settings, without bookkeeping fields', () => {
  const params = flattenParams({
    formatVersion: 1,
    experiment: 'x',
    cellId: 'abc',
    axes: { seed: 1 },
    dataset: { name: 'emoji', dir: 'data/e', split: 'category' },
    model: { backbone: 'resnet-tiny', block: 'dase', domainAwareStages: [1, 2] },
    seed: 1,
  } as never);
  expect(Object.fromEntries(params.map((p) => [p.key, p.value]))).toEqual({
    'dataset.name': 'emoji',
    'dataset.dir': 'data/e',
    'dataset.split': 'category',
    'model.backbone': 'resnet-tiny',
    'model.block': 'dase',
    'model.domainAwareStages': '[1,2]',
    seed: '1',
  });
});

test('metric points come from metrics.jsonl and eval.json, in step order', () => {
  const dir = tmpDir('mirror');
  const cell = new CellStore(path.join(dir, 'c'));
  fs.mkdirSync(cell.dir, { recursive: true });
  cell.appendMetric({
    kind: 'step',
    step: 5,
    epoch: 1,
    loss: 2,
    lr: 0.1,
    imagesPerSec: 10,
    time: '2026-01-01T00:00:00.000Z',
  });
  cell.appendMetric({
    kind: 'epoch',
    step: 10,
    epoch: 1,
    trainLoss: 1.5,
    'mAP@all': 0.3,
    'P@200': null,
    time: '2026-01-01T00:00:01.000Z',
  });
  writeJsonAtomicSync(cell.file('eval.json'), {
    'mAP@all': 0.4,
    'P@200': 0.35,
    hamming: null,
    distanceStats: { fractionSeparated: 0.5 },
  });
  const points = metricPoints(cell);
  expect(points.map((p) => `${p.key}@${p.step}=${p.value}`)).toEqual([
    'loss@5=2',
    'lr@5=0.1',
    'imagesPerSec@5=10',
    'trainLoss@10=1.5',
    'quick.mAP_all@10=0.3',
    'epoch@10=1',
    'final.mAP_all@10=0.4',
    'final.P_200@10=0.35',
    'final.fractionSeparated@10=0.5',
  ]);
  expect(points[0]!.timestamp).toBe(Date.parse('2026-01-01T00:00:00.000Z'));
  expect(artifactFiles(cell)).toEqual(['eval.json']);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('log-batch requests stay within the server limits', async () => {
  const bodies: { metrics: unknown[]; params: unknown[]; tags: unknown[] }[] = [];
  const realFetch = global.fetch;
  global.fetch = (async (_url: unknown, init: { body: string }) => {
    bodies.push(JSON.parse(init.body));
    return new Response('{}', { status: 200 });
  }) as never;
  try {
    const client = new MlflowClient('http://mlflow.invalid');
    const metrics = Array.from({ length: 2500 }, (_, i) => ({
      key: 'loss',
      value: i,
      step: i,
      timestamp: 0,
    }));
    const params = Array.from({ length: 150 }, (_, i) => ({ key: `p${i}`, value: 'x' }));
    await client.logBatch('run', { metrics, params });
  } finally {
    global.fetch = realFetch;
  }
  for (const b of bodies) {
    expect(b.params.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.params);
    expect(b.metrics.length + b.params.length + b.tags.length).toBeLessThanOrEqual(1000);
  }
  expect(bodies.flatMap((b) => b.metrics).map((m) => (m as { step: number }).step)).toEqual(
    Array.from({ length: 2500 }, (_, i) => i),
  );
  expect(bodies.flatMap((b) => b.params)).toHaveLength(150);
});
