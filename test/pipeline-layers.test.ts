/**
 * The pipeline's layer: src/pipeline/ sits above the ports and the apps, so nothing below
 * it imports it (shm/, the kernel, ports, passthrough, the emulated NIC, the apps); only
 * the package entry, the CLI, the benchmarks and the pipeline's worker entry do.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f).split(sep).join('/'));
}

function imports(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith('.'))
    .map((s) =>
      relative(ROOT, resolve(dirname(join(ROOT, file)), s))
        .split(sep)
        .join('/'),
    );
}

describe('the pipeline layer', () => {
  it('is imported by nothing below it', () => {
    const below = [...tsFiles('shm'), ...tsFiles('src')].filter(
      (f) => !f.startsWith('src/pipeline/') && !f.startsWith('src/cli/') && f !== 'src/index.ts',
    );
    expect(below.length).toBeGreaterThan(20);
    const bad = below.flatMap((f) =>
      imports(f)
        .filter((i) => i.startsWith('src/pipeline/'))
        .map((i) => `${f}: ${i}`),
    );
    expect(bad).toEqual([]);
  });

  it('imports only from below it (shm/, src/) and itself', () => {
    const bad = tsFiles('src/pipeline').flatMap((f) =>
      imports(f)
        .filter((i) => !(i.startsWith('shm/') || i.startsWith('src/')) || i.startsWith('src/cli/'))
        .map((i) => `${f}: ${i}`),
    );
    expect(bad).toEqual([]);
  });
});
