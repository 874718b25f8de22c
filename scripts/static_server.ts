/**
 * A small static file server for the browser work (the demo page and the Chromium tests): folders
 * mounted under URL prefixes, files put in memory, every response with the headers that make a page
 * cross-origin isolated (multi-threaded wasm for onnxruntime-web). Loopback only by default.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.css': 'text/css',
  '.map': 'application/json',
};

/** The headers that make a page cross-origin isolated (multi-threaded wasm), on every response. */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** URL prefix → folder served under it (the longest matching prefix wins). */
export interface Mounts {
  [prefix: string]: string;
}

export interface StaticServer {
  url: string;
  /** Serve these bytes at this path (e.g. '/index.html'), with extra response headers. */
  put(path: string, body: Uint8Array | string, headers?: Record<string, string>): void;
  /** Answer this path with a handler of one's own (tests of broken or partial transfers); the isolation headers are the handler's to send. */
  handle(path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): void;
  close(): Promise<void>;
}

/** Serve `mounts` on `host:port` (default 127.0.0.1, a free port). Only files inside a mounted folder are served. */
export async function serveStatic(mounts: Mounts, o: { port?: number; host?: string } = {}): Promise<StaticServer> {
  const memory = new Map<string, { body: Uint8Array | string; headers: Record<string, string> }>();
  const handlers = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const send = (status: number, body: Uint8Array | string, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...ISOLATION_HEADERS, ...extra });
      res.end(body);
    };
    const handler = handlers.get(path);
    if (handler) return handler(req, res);
    const mem = memory.get(path);
    if (mem !== undefined) return send(200, mem.body, CONTENT_TYPES[extname(path)] ?? 'application/octet-stream', mem.headers);
    const prefix = Object.keys(mounts)
      .filter((p) => path.startsWith(p))
      .sort((a, b) => b.length - a.length)[0];
    if (prefix === undefined) return send(404, 'not found');
    const root = mounts[prefix]!;
    const file = normalize(join(root, path.slice(prefix.length)));
    if (!(file + sep).startsWith(normalize(root + sep)) || !existsSync(file) || !statSync(file).isFile()) return send(404, 'not found');
    send(200, readFileSync(file), CONTENT_TYPES[extname(file)] ?? 'application/octet-stream');
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, resolve);
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${host}:${port}`,
    put: (p, body, headers = {}) => memory.set(p, { body, headers }),
    handle: (p, handler) => handlers.set(p, handler),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
