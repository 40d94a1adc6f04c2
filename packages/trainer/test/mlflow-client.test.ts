/**
 * The MLflow client against a stand-in HTTP server: runs/log-inputs retries once when the server's
 * dataset insert races (HTTP 400, UNIQUE constraint on datasets), and only then.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MlflowClient } from '../src/mlflow/client';

async function server(
  replies: { status: number; body: unknown }[],
): Promise<{ url: string; calls: () => number; close: () => void }> {
  let calls = 0;
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const r = replies[Math.min(calls, replies.length - 1)]!;
      calls++;
      res.writeHead(r.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const port = (srv.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, calls: () => calls, close: () => srv.close() };
}

const race = {
  status: 400,
  body: {
    error_code: 'BAD_REQUEST',
    message:
      '(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, datasets.name, datasets.digest',
  },
};
const input = { dataset: { name: 'emoji', digest: 'abc', source_type: 'local', source: '{}' }, tags: [] };

test('log-inputs: a dataset insert race is retried once and succeeds', async () => {
  const s = await server([race, { status: 200, body: {} }]);
  try {
    await new MlflowClient(s.url).logInputs('r1', [input] as never);
    expect(s.calls()).toBe(2);
  } finally {
    s.close();
  }
});

test('log-inputs: other errors are not retried', async () => {
  const s = await server([{ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE', message: 'bad' } }]);
  try {
    await expect(new MlflowClient(s.url).logInputs('r1', [input] as never)).rejects.toThrow(
      /INVALID_PARAMETER_VALUE/,
    );
    expect(s.calls()).toBe(1);
  } finally {
    s.close();
  }
});
