/**
 * `sabnetmap demo`: serves the built teaching demo (dist/demo/, made by `npm run build`
 * through scripts/build-demo.mjs) with Node's own http, cross-origin isolated, so the
 * page gets SharedArrayBuffer. Builds nothing.
 *
 * Every response, errors included, carries COOP same-origin and COEP require-corp (a
 * worker script without COEP is refused by an isolated page) and Cache-Control no-store
 * (a rebuilt demo shows up on reload). Only GET and HEAD; a path is decoded and resolved
 * under the root, and anything that leaves it (`..`, encoded or not, a backslash, a NUL,
 * a symbolic link pointing out) is 404, as is any file that is not there.
 */
import { realpathSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { NetmapError } from '../errors.js';
import { packageRoot } from '../paths.js';

/** The headers SharedArrayBuffer needs (scripts/build-demo.mjs writes the same into _headers). */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** Content-Type by extension; anything else is application/octet-stream. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
};
/** Files without an extension (`_headers`) are text. */
const NO_EXTENSION_TYPE = 'text/plain; charset=utf-8';

/** Where `npm run build` puts the demo: dist/demo under the package root. */
export function demoRoot(): string {
  return join(packageRoot(), 'dist', 'demo');
}

export interface DemoServerOptions {
  /** TCP port; 0 (the default) takes a free one. */
  port?: number;
  /** Address to listen on (127.0.0.1). */
  host?: string;
  /** The directory served (demoRoot()). */
  root?: string;
}

export interface DemoServer {
  /** `http://HOST:PORT/` (an IPv6 host in brackets). */
  url: string;
  host: string;
  port: number;
  /** The directory served (its real path). */
  root: string;
  /** Stops listening and drops open connections (browsers keep idle ones); idempotent. */
  close(): Promise<void>;
}

/**
 * Serves `root` (default dist/demo) on `host:port`. Throws NetmapError ENOENT when
 * root/index.html is missing (the demo is not built), and the listen error (EADDRINUSE,
 * EACCES, EADDRNOTAVAIL, ENOTFOUND...) when the address cannot be had.
 */
export async function startDemoServer(opts: DemoServerOptions = {}): Promise<DemoServer> {
  const host = opts.host ?? '127.0.0.1';
  const given = resolve(opts.root ?? demoRoot());
  let root: string;
  try {
    root = realpathSync(given);
    if (!(await stat(join(root, 'index.html'))).isFile()) throw new Error('not a file');
  } catch {
    throw new NetmapError(
      'ENOENT',
      `the demo is not built (${join(given, 'index.html')} is missing): run 'npm run build'`,
    );
  }
  const server = createServer((req, res) => {
    serve(root, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  // A request Node cannot parse: its 400 carries the headers too (Node's own would not).
  server.on('clientError', (e: NodeJS.ErrnoException, socket) => {
    if (e.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const headers = Object.entries(ISOLATION_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`);
    socket.end(`HTTP/1.1 400 Bad Request\r\n${headers.join('')}Connection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}/`,
    host,
    port,
    root,
    close: () => {
      closed ??= new Promise<void>((ok) => {
        server.close(() => ok());
        // Chromium keeps spare (pre)connected sockets open: close() alone waits for them.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** Status, the headers every response carries, and a short text body (none for HEAD). */
function send(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...commonHeaders(),
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    ...extra,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function commonHeaders(): Record<string, string> {
  return {
    ...ISOLATION_HEADERS,
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  };
}

/** The file under `root` that the request path names, or null when it names nothing there. */
async function fileFor(root: string, rawUrl: string): Promise<{ file: string; redirect?: string } | null> {
  const rawPath = rawUrl.split(/[?#]/, 1)[0];
  if (!rawPath.startsWith('/')) return null; // absolute-form or '*' targets: nothing of ours
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return null; // a malformed escape
  }
  if (path.split('/').some((s) => s === '..' || s.includes('\\') || s.includes('\0'))) return null;
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  const under = root.endsWith(sep) ? root : root + sep;
  let file = resolve(root, ...segments);
  if (file !== root && !file.startsWith(under)) return null;
  let st = await stat(file).catch(() => null);
  if (st?.isDirectory()) {
    // A directory is its index.html, at a URL with a trailing slash (the page's relative
    // URLs need it). The target is rebuilt from the segments: never '//host/...'.
    if (!rawPath.endsWith('/')) {
      return { file, redirect: `/${segments.map(encodeURIComponent).join('/')}${segments.length > 0 ? '/' : ''}` };
    }
    file = join(file, 'index.html');
    st = await stat(file).catch(() => null);
  }
  if (!st?.isFile()) return null;
  // A symbolic link may point anywhere: what it names must be under the root too.
  const real = await realpath(file).catch(() => null);
  if (real === null || !real.startsWith(under)) return null;
  return { file: real };
}

async function serve(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'method not allowed: GET or HEAD\n', { Allow: 'GET, HEAD' });
    return;
  }
  const found = await fileFor(root, req.url ?? '/');
  if (found === null) {
    send(res, 404, 'not found\n');
    return;
  }
  if (found.redirect !== undefined) {
    send(res, 301, `moved to ${found.redirect}\n`, { Location: found.redirect });
    return;
  }
  const body = await readFile(found.file).catch(() => null);
  if (body === null) {
    send(res, 404, 'not found\n');
    return;
  }
  const ext = extname(found.file);
  res.writeHead(200, {
    ...commonHeaders(),
    'Content-Type': ext === '' ? NO_EXTENSION_TYPE : (CONTENT_TYPES[ext] ?? 'application/octet-stream'),
    'Content-Length': String(body.length),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
