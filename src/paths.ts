import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetmapError } from './errors.js';

let root: string | undefined;

/** The package root, found from this file whether it runs from src/ (tests) or dist/. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && JSON.parse(readFileSync(pj, 'utf8')).name === 'sabnetmap') {
      root = dir;
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the sabnetmap package root');
    dir = up;
  }
}

/**
 * Worker entry points always run from the compiled dist/ (`npm install` builds it), so
 * tests, the CLI and `npm start` start workers the same way.
 */
export function workerFile(name: string): string {
  const file = join(packageRoot(), 'dist', 'workers', `${name}.js`);
  if (!existsSync(file)) {
    throw new NetmapError('ENOENT', `worker ${name} is not built (${file}): run 'npm run build'`);
  }
  return file;
}
