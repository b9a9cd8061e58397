#!/usr/bin/env node
/**
 * Bundles the teaching demo (demo/) into a static site: dist/demo/{index.html, main.js,
 * worker.js, their source maps, the other static files of demo/, HEADERS.md, _headers}.
 * `npm run build` runs it after tsc; `sabnetmap demo` serves the result and builds nothing.
 *
 * Plain ESM JavaScript run by node, not TypeScript: the build needs it before (and
 * without) any compiled output, and a bundler call has nothing worth typing.
 *
 * A browser has no Node: any `node:` module (or a bare builtin like `fs`) pulled in by the
 * page or the worker, directly or through the library, fails the build, naming the file
 * that imports it. On any failure the output directory is removed: a half-built demo is
 * never served.
 *
 * usage: node scripts/build-demo.mjs [--src DIR (demo)] [--out DIR (dist/demo)]
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The two headers SharedArrayBuffer needs (src/cli/demo.ts sends the same; a test checks both agree). */
const HEADERS = [
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Embedder-Policy', 'require-corp'],
];
/** Files of the source directory that are not copied: the bundle's inputs and its config. */
const NOT_COPIED = (name) => name.endsWith('.ts') || name === 'tsconfig.json';

/** Refuses Node's modules with the importer's name, instead of a browser bundle that fails at run time. */
const noNodeModules = {
  name: 'no-node-modules',
  setup(b) {
    const builtins = new Set(builtinModules);
    b.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.split('/')[0];
      if (!args.path.startsWith('node:') && !builtins.has(args.path) && !builtins.has(bare)) return undefined;
      return {
        errors: [
          {
            text: `'${args.path}' is a Node module: the demo runs in a browser (imported by ${relative(ROOT, args.importer) || args.importer})`,
          },
        ],
      };
    });
  },
};

const headersMd = () => `# Hosting the sabnetmap demo

This folder is a static site: copy all of it to any web server. The page runs the
library in Web Workers on \`SharedArrayBuffer\`, which browsers hand out only to a
*cross-origin isolated* page. That takes two response headers on **every** file of this
folder (the page, \`main.js\`, \`worker.js\` included: an isolated page refuses a worker
script served without COEP):

\`\`\`
${HEADERS.map(([k, v]) => `${k}: ${v}`).join('\n')}
\`\`\`

and a secure context: HTTPS, or \`http://localhost\` / \`http://127.0.0.1\` on your own
machine (plain HTTP from any other address is never isolated, headers or not).

When the headers are missing the page says so in plain words instead of failing
silently. \`npx sabnetmap demo\` serves this folder with them on 127.0.0.1.

## nginx

\`\`\`nginx
location /sabnetmap-demo/ {   # where you copied this folder
${HEADERS.map(([k, v]) => `    add_header ${k} ${v} always;`).join('\n')}
}
\`\`\`

(An \`add_header\` in a block drops those inherited from outer blocks: repeat any you
need there.)

## Apache (.htaccess or the vhost; needs mod_headers)

\`\`\`apache
${HEADERS.map(([k, v]) => `Header always set ${k} "${v}"`).join('\n')}
AddType text/javascript .js
\`\`\`

## Netlify, Cloudflare Pages

The \`_headers\` file in this folder does it: keep it at the root of the published
directory (if the demo is a subfolder of a bigger site, merge it into the site's
\`_headers\` with \`/that-folder/*\` in place of \`/*\`). It reads:

\`\`\`
${headersFile().trimEnd()}
\`\`\`

## GitHub Pages

GitHub Pages cannot set response headers: host the demo elsewhere (or behind a proxy
that adds them).
`;

const headersFile = () => `/*\n${HEADERS.map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`;

/** Bundles `src` into `out` (both absolute); throws on any error, with out removed. */
export async function buildDemo(src, out) {
  const started = performance.now();
  for (const f of ['index.html', 'main.ts', 'worker.ts']) {
    if (!existsSync(join(src, f))) throw new Error(`${relative(ROOT, join(src, f)) || f} is missing`);
  }
  rmSync(out, { recursive: true, force: true });
  try {
    const r = await build({
      absWorkingDir: ROOT,
      entryPoints: { main: join(src, 'main.ts'), worker: join(src, 'worker.ts') },
      outdir: out,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      minify: true,
      sourcemap: true,
      metafile: true,
      logLevel: 'silent', // the errors come back in the exception: printed once, below
      plugins: [noNodeModules],
    });
    mkdirSync(out, { recursive: true });
    for (const name of readdirSync(src)) {
      if (NOT_COPIED(name) || !statSync(join(src, name)).isFile()) continue;
      copyFileSync(join(src, name), join(out, name));
    }
    writeFileSync(join(out, 'HEADERS.md'), headersMd());
    writeFileSync(join(out, '_headers'), headersFile());
    const sizes = Object.entries(r.metafile.outputs)
      .filter(([f]) => f.endsWith('.js'))
      .map(([f, o]) => `${f.slice(f.lastIndexOf('/') + 1)} ${(o.bytes / 1024).toFixed(0)} KiB`);
    return { ms: performance.now() - started, sizes };
  } catch (e) {
    rmSync(out, { recursive: true, force: true });
    throw e;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { src: { type: 'string' }, out: { type: 'string' } } });
  const src = resolve(values.src ?? join(ROOT, 'demo'));
  const out = resolve(values.out ?? join(ROOT, 'dist', 'demo'));
  try {
    const { ms, sizes } = await buildDemo(src, out);
    process.stdout.write(`demo: ${relative(ROOT, out) || out} (${sizes.join(', ')}) in ${ms.toFixed(0)} ms\n`);
  } catch (e) {
    const errors = e?.errors;
    const lines = Array.isArray(errors)
      ? errors.map((m) => `${m.location ? `${m.location.file}:${m.location.line}: ` : ''}${m.text}`)
      : [e?.message ?? String(e)];
    for (const l of lines) process.stderr.write(`build-demo: error: ${l}\n`);
    process.stderr.write(`build-demo: the demo was not built (${relative(ROOT, out) || out} removed)\n`);
    process.exitCode = 1;
  }
}
