/**
 * A small static file server for the dashboard (node:http, 127.0.0.1 only, no directory listings).
 * The served folder may hold what a run store put there, so a file is served only when its real path
 * (symbolic links resolved) stays inside the root, and only to requests whose Host header names this
 * server on a loopback name (a page on another site that rebinds its DNS name to 127.0.0.1 gets 421).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { displayPath } from '@sbir/core';
import { ReportInputError, message } from './messages';
import { isInside } from './util/paths';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.md': 'text/markdown; charset=utf-8',
  '.tex': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
};

export interface ServeHandle {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves `root` (the report folder; the dashboard lives at /dashboard/). Paths are decoded, resolved and
 * checked to stay inside `root`.
 */
/** Host header values this server answers: loopback names (and the bound host) with its port. */
export function allowedHosts(host: string, port: number): Set<string> {
  const names = ['127.0.0.1', 'localhost', '[::1]', host.includes(':') ? `[${host}]` : host];
  // a browser leaves the port out of Host only when it is the default one
  return new Set(
    names.flatMap((n) => (port === 80 ? [n, `${n}:80`] : [`${n}:${port}`])).map((n) => n.toLowerCase()),
  );
}

/** The file to send for a URL path, or an HTTP status: 403 outside the root (after links), 404 absent. */
export function resolveServed(realRoot: string, pathname: string): string | 403 | 404 {
  if (pathname.includes('\0')) return 403;
  const requested = path.resolve(realRoot, `.${pathname}`);
  if (!isInside(realRoot, requested)) return 403;
  const real = (p: string): string | 403 | 404 => {
    try {
      const r = fs.realpathSync(p);
      return isInside(realRoot, r) ? r : 403;
    } catch {
      return 404;
    }
  };
  let file = real(requested);
  if (typeof file === 'string' && fs.statSync(file).isDirectory()) file = real(path.join(file, 'index.html'));
  return typeof file === 'string' && !fs.statSync(file).isFile() ? 404 : file;
}

function listenError(e: NodeJS.ErrnoException, host: string, port: number): Error {
  if (e.code === 'EADDRINUSE') return new ReportInputError(message.portInUse(host, port), '--port', 'port');
  if (e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')
    return new ReportInputError(message.listenFailed(host, port, e.code), '--port', 'port');
  return e;
}

export function serveStatic(
  root: string,
  opts: { port?: number; host?: string; index?: string } = {},
): Promise<ServeHandle> {
  let base: string;
  try {
    base = fs.realpathSync(path.resolve(root));
  } catch {
    return Promise.reject(
      new ReportInputError(message.nothingToServe(displayPath(path.resolve(root))), root),
    );
  }
  const host = opts.host ?? '127.0.0.1';
  const index = opts.index ?? '/dashboard/index.html';
  let hosts = new Set<string>();
  const server = http.createServer((req, res) => {
    if (!hosts.has((req.headers.host ?? '').toLowerCase())) {
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8' }).end('misdirected request');
      return;
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (pathname === '/') {
      res.writeHead(302, { location: index }).end();
      return;
    }
    const file = resolveServed(base, pathname);
    if (typeof file === 'number') {
      res
        .writeHead(file, { 'content-type': 'text/plain; charset=utf-8' })
        .end(file === 403 ? 'forbidden' : 'not found');
      return;
    }
    try {
      const body = fs.readFileSync(file);
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
        'cache-control': 'no-cache',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(listenError(e, host, opts.port ?? 0)));
    server.listen(opts.port ?? 0, host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 0);
      hosts = allowedHosts(host, port);
      resolve({
        url: `http://${host}:${port}${index}`,
        port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections(); // browsers keep connections alive
          }),
      });
    });
  });
}
