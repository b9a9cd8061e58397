/**
 * Layers: what each part of the code may import, read from the sources. shm/ (the memory
 * layout) stands alone; the kernel (src/kernel/) sits on shm/ and knows no device, app or
 * user-side module above it (devices register their port types with it); and what runs
 * in a browser's Web Workers imports no `node:` module. Plus the kernel's side of device
 * registration: a descriptor of a type nobody registered does not attach.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { attachPort, Netmap } from '../src/netmap.js';
import type { BaseDescriptor } from '../src/port.js';
import { expectCode } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every .ts file under `dir` (relative to the repository root), with its path from the root. */
function tsFiles(dir: string): string[] {
  const abs = join(ROOT, dir);
  return readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f).split(sep).join('/'))
    .sort();
}

interface Import {
  /** What the file wrote. */
  spec: string;
  /** For a relative import: the .ts file it names, from the root ('shm/layout.ts'); else null. */
  target: string | null;
}

/**
 * The imports of a file, as TypeScript's own scanner finds them: import and export ...
 * from, type-only ones too (a type import still ties a layer to the one it names), side
 * effect imports and import() calls; never text inside comments or strings.
 */
function importsOf(file: string): Import[] {
  return importsIn(readFileSync(join(ROOT, file), 'utf8'), file);
}

/** The imports in `source`, as if it were the file `file` (relative to the root). */
function importsIn(source: string, file: string): Import[] {
  const info = ts.preProcessFile(source, true, true);
  return info.importedFiles.map(({ fileName: spec }) => {
    if (!spec.startsWith('.')) return { spec, target: null };
    const abs = resolve(dirname(join(ROOT, file)), spec).replace(/\.js$/, '.ts');
    return { spec, target: relative(ROOT, abs).split(sep).join('/') };
  });
}

/** The imports of `files` that `allowed` refuses, as "file: spec" lines. */
function violations(files: string[], allowed: (imp: Import) => boolean): string[] {
  const out: string[] = [];
  for (const f of files) for (const imp of importsOf(f)) if (!allowed(imp)) out.push(`${f}: ${imp.spec}`);
  return out;
}

const isNodeModule = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec);

describe('layers (imports read from the sources)', () => {
  const shm = tsFiles('shm');
  const kernel = tsFiles('src/kernel');

  it('the scanner finds every kind of import, and none in comments or strings', () => {
    const source = `
import { a } from '../../shm/layout.js';
import type { B } from '../names.js';
export { c } from './kring.js';
export * from '../errors.js';
import 'node:fs';
const d = await import('../port.js');
// import { e } from '../emulated/driver.js';
/* import { f } from 'node:worker_threads'; */
const g = "import { h } from '../apps/x.js'";
`;
    expect(importsIn(source, 'src/kernel/x.ts')).toEqual([
      { spec: '../../shm/layout.js', target: 'shm/layout.ts' },
      { spec: '../names.js', target: 'src/names.ts' },
      { spec: './kring.js', target: 'src/kernel/kring.ts' },
      { spec: '../errors.js', target: 'src/errors.ts' },
      { spec: 'node:fs', target: null },
      { spec: '../port.js', target: 'src/port.ts' },
    ]);
    expect(shm).toContain('shm/layout.ts');
    expect(kernel).toContain('src/kernel/attach.ts');
  });

  it('shm/ imports only shm/', () => {
    expect(violations(shm, (imp) => imp.target?.startsWith('shm/') === true)).toEqual([]);
  });

  it('src/kernel/ imports only shm/, src/kernel/ and src/errors.ts, src/log.ts, src/names.ts, src/trace.ts', () => {
    const leaves = ['src/errors.ts', 'src/log.ts', 'src/names.ts', 'src/trace.ts'];
    const allowed = (imp: Import) =>
      imp.target !== null &&
      (imp.target.startsWith('shm/') || imp.target.startsWith('src/kernel/') || leaves.includes(imp.target));
    expect(violations(kernel, allowed)).toEqual([]);
  });

  it('nothing that runs in a Web Worker imports a node: module', () => {
    const files = [
      ...shm,
      ...kernel,
      'src/port.ts',
      'src/ring.ts',
      'src/netmap.ts',
      'src/trace.ts',
      'src/spin.ts',
      'src/host-loop.ts',
      ...tsFiles('src/passthrough'),
      ...tsFiles('src/emulated'),
    ];
    expect(violations(files, (imp) => !isNodeModule(imp.spec))).toEqual([]);
  });
});

describe('port types registered by devices', () => {
  it('a descriptor of a type nobody registered is EINVAL naming the type', () => {
    const nm = new Netmap();
    const desc = nm.register('lt0{', { ringSize: 4 });
    const err = expectCode(() => attachPort({ ...desc, type: 'nic9000' } as unknown as BaseDescriptor), 'EINVAL');
    expect(err.message).toContain('nic9000');
  });
});
