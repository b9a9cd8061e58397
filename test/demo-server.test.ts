/**
 * The teaching demo's infrastructure: what `npm run build` puts in dist/demo
 * (scripts/build-demo.mjs), the static server behind `sabnetmap demo` (src/cli/demo.ts:
 * COOP/COEP on every response, types, no way out of the root, GET/HEAD only), the command
 * itself (a free port printed, Ctrl-C exits 130, bad options exit 2 with one line), and in
 * the system Chromium: the served page is cross-origin isolated, and served without the
 * headers it says so in plain words (#isolation-problem, demo/isolation.ts). The Chromium
 * tests skip when /usr/bin/chromium is missing. The CLI and dist/demo come from
 * `npm run build` (npm test runs it first).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_TYPES, type DemoServer, ISOLATION_HEADERS, startDemoServer } from '../src/cli/demo.js';
import { NetmapError } from '../src/errors.js';
import { type Browser, chromiumPath, launch, open } from './browser/harness.js';
import { cli } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST_DEMO = join(ROOT, 'dist', 'demo');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const BUILD_DEMO = join(ROOT, 'scripts', 'build-demo.mjs');

function requireDemoBuilt(): void {
  if (!existsSync(join(DIST_DEMO, 'index.html'))) throw new Error(`${DIST_DEMO} is not built: run 'npm run build'`);
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with the path sent exactly as written (fetch would normalize '..' away). */
function raw(base: string, path: string, method = 'GET'): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((ok, fail) => {
    const req = request({ host: hostname, port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('npm run build: dist/demo', () => {
  it('holds index.html, main.js, worker.js, their source maps, HEADERS.md and _headers', () => {
    requireDemoBuilt();
    for (const f of ['index.html', 'main.js', 'main.js.map', 'worker.js', 'worker.js.map', 'HEADERS.md', '_headers']) {
      expect(existsSync(join(DIST_DEMO, f)), f).toBe(true);
    }
  });

  it('_headers sets both isolation headers on every path, the same ones the server sends', () => {
    requireDemoBuilt();
    const lines = readFileSync(join(DIST_DEMO, '_headers'), 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('/*');
    const set = Object.fromEntries(lines.slice(1).map((l) => l.trim().split(/:\s*/)));
    expect(set).toEqual(ISOLATION_HEADERS);
  });

  it('HEADERS.md names both headers and shows how for nginx, Apache and Netlify/Cloudflare Pages', () => {
    requireDemoBuilt();
    const md = readFileSync(join(DIST_DEMO, 'HEADERS.md'), 'utf8');
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) expect(md).toContain(`${k}: ${v}`);
    expect(md).toMatch(/add_header Cross-Origin-Embedder-Policy require-corp/);
    expect(md).toMatch(/Header always set Cross-Origin-Opener-Policy "same-origin"/);
    expect(md).toMatch(/_headers/);
    expect(md).toMatch(/says so/);
  });

  it('a demo that imports a node: module fails the build, naming the module and the importer, and leaves no output', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sabnetmap-demo-build-'));
    try {
      const src = join(tmp, 'demo');
      const out = join(tmp, 'out');
      mkdirSync(src);
      mkdirSync(out);
      writeFileSync(join(out, 'stale.js'), '');
      writeFileSync(join(src, 'index.html'), '<!doctype html>');
      writeFileSync(join(src, 'main.ts'), "import { readFileSync } from 'node:fs';\nconsole.log(readFileSync);\n");
      writeFileSync(join(src, 'worker.ts'), 'export {};\n');
      const r = await new Promise<{ code: number | null; stderr: string }>((ok, fail) => {
        const p = spawn(process.execPath, [BUILD_DEMO, '--src', src, '--out', out], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        p.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
        });
        p.on('error', fail);
        p.on('close', (code) => ok({ code, stderr }));
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/'node:fs' is a Node module/);
      expect(r.stderr).toMatch(/main\.ts/);
      expect(existsSync(out)).toBe(false);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('startDemoServer', () => {
  let tmp: string;
  let srv: DemoServer;
  beforeAll(async () => {
    // A root with one file of each kind, a subdirectory, a link out, and a secret next to it.
    tmp = mkdtempSync(join(tmpdir(), 'sabnetmap-demo-root-'));
    const root = join(tmp, 'root');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(tmp, 'secret.txt'), 'secret\n');
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>x</title>');
    writeFileSync(join(root, 'main.js'), 'export {};\n');
    writeFileSync(join(root, 'worker.js'), 'export {};\n');
    writeFileSync(join(root, 'main.js.map'), '{}');
    writeFileSync(join(root, 'data.json'), '{}');
    writeFileSync(join(root, 'style.css'), 'body{}');
    writeFileSync(join(root, 'fig.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    writeFileSync(join(root, 'fig.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(root, 'HEADERS.md'), '# x\n');
    writeFileSync(join(root, '_headers'), '/*\n');
    writeFileSync(join(root, 'sub', 'index.html'), '<!doctype html><title>sub</title>');
    symlinkSync(join(tmp, 'secret.txt'), join(root, 'link.txt'));
    srv = await startDemoServer({ root });
  });
  afterAll(async () => {
    await srv?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it.each(['/', '/index.html', '/main.js', '/worker.js', '/nope.js'])(
    'the response to %s carries COOP same-origin and COEP require-corp',
    async (path) => {
      const r = await raw(srv.url, path);
      expect(r.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(r.headers['cross-origin-embedder-policy']).toBe('require-corp');
    },
  );

  it('a request that is not HTTP gets a 400 that carries COOP and COEP too', async () => {
    const reply = await new Promise<string>((ok, fail) => {
      const sock = connect(srv.port, '127.0.0.1', () => sock.end('GARBAGE\r\n\r\n'));
      let got = '';
      sock.setEncoding('utf8').on('data', (d: string) => {
        got += d;
      });
      sock.on('close', () => ok(got));
      sock.on('error', fail);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(reply).toContain('Cross-Origin-Opener-Policy: same-origin\r\n');
    expect(reply).toContain('Cross-Origin-Embedder-Policy: require-corp\r\n');
  });

  it('responses are not cached (Cache-Control: no-store)', async () => {
    expect((await raw(srv.url, '/main.js')).headers['cache-control']).toBe('no-store');
  });

  it.each([
    ['/', 'text/html; charset=utf-8'],
    ['/index.html', 'text/html; charset=utf-8'],
    ['/main.js', 'text/javascript; charset=utf-8'],
    ['/worker.js', 'text/javascript; charset=utf-8'],
    ['/main.js.map', 'application/json; charset=utf-8'],
    ['/data.json', 'application/json; charset=utf-8'],
    ['/style.css', 'text/css; charset=utf-8'],
    ['/fig.png', 'image/png'],
    ['/fig.svg', 'image/svg+xml'],
    ['/HEADERS.md', 'text/markdown; charset=utf-8'],
    ['/_headers', 'text/plain; charset=utf-8'],
  ])('%s is served as %s', async (path, type) => {
    const r = await raw(srv.url, path);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(type);
  });

  it('the url names the free port it listens on (port 0 asked)', () => {
    expect(srv.port).toBeGreaterThan(0);
    expect(srv.url).toBe(`http://127.0.0.1:${srv.port}/`);
  });

  it('a file that is not there is 404', async () => {
    expect((await raw(srv.url, '/nope.js')).status).toBe(404);
  });

  it.each([
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E/secret.txt',
    '/..%2fsecret.txt',
    '/%2e%2e%2fsecret.txt',
    '/sub/../../secret.txt',
    '/sub/%2e%2e/%2e%2e/secret.txt',
    '/..%5csecret.txt',
    '/main.js%00.png',
    '/%e0%a4%a',
  ])('%s (out of the root, or not a path) is 404', async (path) => {
    const r = await raw(srv.url, path);
    expect(r.status).toBe(404);
    expect(r.body).not.toContain('secret');
  });

  it('a symbolic link to a file outside the root is 404', async () => {
    expect((await raw(srv.url, '/link.txt')).status).toBe(404);
  });

  it.each(['POST', 'PUT', 'DELETE'])('%s is 405 with Allow: GET, HEAD', async (method) => {
    const r = await raw(srv.url, '/index.html', method);
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD');
  });

  it('HEAD answers what GET would, without the body', async () => {
    const get = await raw(srv.url, '/main.js');
    const head = await raw(srv.url, '/main.js', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe(get.headers['content-type']);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(get.body)));
    expect(head.body).toBe('');
  });

  it('a directory without its trailing slash redirects to it, on this host', async () => {
    for (const path of ['/sub', '//sub']) {
      const r = await raw(srv.url, path);
      expect(r.status, path).toBe(301);
      expect(r.headers.location, path).toBe('/sub/');
    }
    expect((await raw(srv.url, '/sub/')).body).toContain('<title>sub</title>');
  });

  it('a root without index.html (the demo not built) is ENOENT telling to run npm run build', async () => {
    const err = await startDemoServer({ root: join(tmp, 'nowhere') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetmapError);
    expect((err as NetmapError).code).toBe('ENOENT');
    expect((err as Error).message).toMatch(/run 'npm run build'/);
  });

  it('after close() the port takes no more connections', async () => {
    const s = await startDemoServer({ root: srv.root });
    await s.close();
    await expect(raw(s.url, '/')).rejects.toThrow(/ECONNREFUSED/);
  });
});

interface Child {
  proc: ChildProcessWithoutNullStreams;
  firstLine: Promise<string>;
  err: () => string;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}
const running: Child[] = [];

/** The built CLI with the given arguments; `firstLine` is its first line of stdout. */
function startCli(args: string[], cwd = ROOT, cliFile = CLI): Child {
  const proc = spawn(process.execPath, [cliFile, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok, fail) => {
    proc.on('error', fail);
    proc.on('close', (code, signal) => ok({ code, signal }));
  });
  const firstLine = new Promise<string>((ok, fail) => {
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) ok(out.slice(0, out.indexOf('\n')));
    });
    closed.then(() => fail(new Error(`the CLI ended before a line on stdout\n--- stderr ---\n${err}`)));
  });
  firstLine.catch(() => {});
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const c = { proc, firstLine, err: () => err, closed };
  running.push(c);
  return c;
}

describe('sabnetmap demo', () => {
  afterEach(() => {
    for (const c of running.splice(0))
      if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  });

  it('prints demo: URL on a free port, serves the page there with both headers, and exits 130 on Ctrl-C', async () => {
    requireDemoBuilt();
    const c = startCli(['demo']);
    const line = await c.firstLine;
    const m = /^demo: (http:\/\/127\.0\.0\.1:(\d+)\/)$/.exec(line);
    expect(m, line).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThan(0);
    for (const path of ['', 'main.js', 'worker.js']) {
      const r = await fetch(`${m![1]}${path}`);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('cross-origin-opener-policy'), path).toBe('same-origin');
      expect(r.headers.get('cross-origin-embedder-policy'), path).toBe('require-corp');
      await r.arrayBuffer();
    }
    c.proc.kill('SIGINT');
    expect(await c.closed).toEqual({ code: 130, signal: null });
    expect(c.err()).toBe('');
  });

  it('SIGTERM closes it too, exit 143', async () => {
    requireDemoBuilt();
    const c = startCli(['demo']);
    await c.firstLine;
    c.proc.kill('SIGTERM');
    expect(await c.closed).toEqual({ code: 143, signal: null });
  });

  it.each([
    ['--port 99999', ['--port', '99999'], /--port must be an integer from 0/],
    ['--port abc', ['--port', 'abc'], /--port must be an integer from 0/],
    ['--port -1', ['--port=-1'], /--port must be an integer from 0/],
    ['--port 1.5', ['--port', '1.5'], /--port must be an integer from 0/],
    ['--host with a space', ['--host', 'local host'], /--host must be a host name or an IP address/],
    ['--host empty', ['--host', ''], /--host must be a host name or an IP address/],
    ['an unknown option', ['--frob'], /frob/],
    ['an argument', ['now'], /unexpected argument 'now'/],
  ])('%s: one line on stderr, exit 2', async (_what, args, names) => {
    const r = await cli(['demo', ...args]);
    const where = `--- stderr ---\n${r.stderr}--- stdout ---\n${r.stdout}`;
    expect(r.code, where).toBe(2);
    expect(r.stdout, where).toBe('');
    const lines = r.stderr.replace(/\n$/, '').split('\n');
    expect(lines, where).toHaveLength(1);
    expect(lines[0], where).toMatch(/^sabnetmap: /);
    expect(lines[0], where).toMatch(names);
  });

  it('a port in use: one line naming EADDRINUSE, exit 2', async () => {
    requireDemoBuilt();
    const taken = await startDemoServer();
    try {
      const r = await cli(['demo', '--port', String(taken.port)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^sabnetmap: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE[^\n]*\n$/);
    } finally {
      await taken.close();
    }
  });

  it('without dist/demo (not built): one line telling to run npm run build, exit 2', async () => {
    // A copy of the package without dist/demo (the CLI finds its root from its own file).
    const tmp = mkdtempSync(join(tmpdir(), 'sabnetmap-nodemo-'));
    try {
      cpSync(join(ROOT, 'package.json'), join(tmp, 'package.json'));
      cpSync(join(ROOT, 'dist'), join(tmp, 'dist'), {
        recursive: true,
        filter: (f) => f !== DIST_DEMO && !f.endsWith('.map') && !f.endsWith('.d.ts'),
      });
      symlinkSync(join(ROOT, 'node_modules'), join(tmp, 'node_modules'));
      const c = startCli(['demo'], tmp, join(tmp, 'dist', 'src', 'cli', 'main.js'));
      expect(await c.closed).toEqual({ code: 2, signal: null });
      expect(c.err()).toMatch(/^sabnetmap: the demo is not built \([^\n]*\): run 'npm run build'\n$/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('the help lists demo', async () => {
    const r = await cli(['help']);
    expect(r.stdout).toMatch(/^ {2}demo {9}the teaching demo/m);
  });
});

const chromium = chromiumPath();
const skipped = chromium === null ? ' (SKIPPED: /usr/bin/chromium is missing; apt-get install chromium)' : '';
if (skipped) console.log(`demo browser tests${skipped}`);

/** dist/demo served the way a careless host would: right types, no COOP/COEP. */
async function serveWithoutHeaders(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(async (req, res) => {
    const name = basename(new URL(req.url ?? '/', 'http://x').pathname) || 'index.html';
    const ext = name.slice(name.lastIndexOf('.'));
    const body = await readFile(join(dir, name)).catch(() => null);
    if (body === null) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[ext] ?? 'text/plain' }).end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

describe.skipIf(chromium === null)(`the demo page in headless Chromium${skipped}`, () => {
  let browser: Browser | undefined;
  beforeAll(async () => {
    requireDemoBuilt();
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('served by startDemoServer, the page is cross-origin isolated and SharedArrayBuffer exists', async () => {
    const srv = await startDemoServer();
    const p = await open(browser!.context, srv.url);
    try {
      const got = await p.page.evaluate(() => ({
        isolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated,
        sab: typeof SharedArrayBuffer,
      }));
      expect(got).toEqual({ isolated: true, sab: 'function' });
      expect(await p.page.locator('#isolation-problem').count()).toBe(0);
    } finally {
      await p.close();
      await srv.close();
    }
  });

  it('served without COOP/COEP, the page says in plain words that cross-origin isolation and the headers are missing', async () => {
    const srv = await serveWithoutHeaders(DIST_DEMO);
    const p = await open(browser!.context, srv.url);
    try {
      expect(await p.page.evaluate(() => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated)).toBe(
        false,
      );
      const box = p.page.locator('#isolation-problem');
      await box.waitFor({ state: 'visible', timeout: 30_000 });
      const text = (await box.textContent()) ?? '';
      expect(text).toMatch(/cross-origin isolat/i);
      expect(text).toContain('Cross-Origin-Opener-Policy: same-origin');
      expect(text).toContain('Cross-Origin-Embedder-Policy: require-corp');
      expect(text).toContain('npx sabnetmap demo');
      expect(p.errors.filter((e) => e.startsWith('page error'))).toEqual([]);
    } finally {
      await p.close();
      await srv.close();
    }
  });
});
