/**
 * Writes a run's per-thread traces as one Chrome Trace Event JSON file (Perfetto and
 * chrome://tracing open it).
 */
import { writeFileSync } from 'node:fs';
import { chromeTrace, type ThreadTrace } from '../trace.js';

export function writeTrace(file: string, threads: Array<{ role: string; trace: ThreadTrace }>): void {
  writeFileSync(file, JSON.stringify(chromeTrace(threads)));
}
