/**
 * Every public export of the package's entry points (src/index.ts, src/browser.ts,
 * shm/index.ts; re-exports followed to their declarations) has a doc comment: the API
 * reference (`npm run docs`, TypeDoc) is generated from them. A failure names each
 * undocumented export and where it is declared.
 *
 * A doc comment is a `/** ... *\/` comment with some text on the declaration (on its
 * `export const` statement for a variable). A comment above the first statement of a
 * file and separated from it by a blank line is the file's own comment, not the
 * declaration's (TypeDoc reads it so once the declaration has its own comment).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY_POINTS = ['src/index.ts', 'src/browser.ts', 'shm/index.ts'];

/** The repository's compiler options (tsconfig.json), for a program of just `files`. */
function programOf(files: string[]): ts.Program {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  return ts.createProgram(files, { ...options, noEmit: true, incremental: false });
}

/** The statement a declaration's doc comment sits on (`export const a = 1`: the variable statement). */
function docHost(decl: ts.Declaration): ts.Node {
  if (ts.isVariableDeclaration(decl) && ts.isVariableDeclarationList(decl.parent)) return decl.parent.parent;
  return decl;
}

/** Whether a declaration carries a doc comment with text of its own. */
function hasDocComment(decl: ts.Declaration): boolean {
  const host = docHost(decl);
  const docs = (host as { jsDoc?: ts.JSDoc[] }).jsDoc ?? [];
  const own = docs.at(-1);
  if (own === undefined) return false;
  const sf = host.getSourceFile();
  // The file's comment, above its first statement with a blank line between them.
  if (sf.statements[0] === host && docs.length === 1) {
    const between = sf.text.slice(own.end, host.getStart(sf, false));
    if (/\n[ \t]*\r?\n/.test(between)) return false;
  }
  const text = ts.getTextOfJSDocComment(own.comment) ?? '';
  const tagText = (own.tags ?? []).map((t) => ts.getTextOfJSDocComment(t.comment) ?? '').join('');
  return (text + tagText).trim().length > 0;
}

/** The undocumented exports of an entry point: `name (file:line)`, sorted by place. */
function undocumentedExports(program: ts.Program, entry: string, root = ROOT): string[] {
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(entry);
  if (sf === undefined) throw new Error(`${entry} is not in the program`);
  const mod = checker.getSymbolAtLocation(sf);
  if (mod === undefined) throw new Error(`${entry} is not a module`);
  const out: Array<{ where: string; line: number; text: string }> = [];
  for (const exported of checker.getExportsOfModule(mod)) {
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const decls = target.declarations ?? [];
    if (decls.some(hasDocComment)) continue;
    const d = decls[0];
    const file = d ? relative(root, d.getSourceFile().fileName) : '?';
    const line = d ? d.getSourceFile().getLineAndCharacterOfPosition(d.getStart()).line + 1 : 0;
    out.push({ where: file, line, text: `${exported.name} (${file}:${line})` });
  }
  return out.sort((a, b) => a.where.localeCompare(b.where) || a.line - b.line).map((o) => o.text);
}

describe('doc comments on the public exports', () => {
  const program = programOf(ENTRY_POINTS.map((f) => join(ROOT, f)));

  it.each(ENTRY_POINTS)('every export of %s has a doc comment', (entry) => {
    const missing = undocumentedExports(program, join(ROOT, entry));
    expect(missing, `undocumented exports of ${entry}:\n  ${missing.join('\n  ')}\n`).toEqual([]);
  });
});

describe('the doc comment check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sabnetmap-docs-exports-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'entry.ts'),
    [
      '/** Documented. */',
      'export const documented = 1;',
      'export const bare = 2;',
      '// A line comment is not a doc comment.',
      'export function lineCommented(): void {}',
      '/** */',
      'export interface EmptyDoc {}',
      "export { renamed as aliased } from './other.js';",
      "export * from './other.js';",
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'other.ts'),
    [
      '/**',
      ' * The file comment.',
      ' */',
      '',
      'export const firstAfterFileComment = 1;',
      '/** Documented where declared. */',
      'export const renamed = 2;',
    ].join('\n'),
  );

  it('names undocumented exports, following re-exports, and does not count a file comment', () => {
    const entry = join(dir, 'entry.ts');
    const missing = undocumentedExports(programOf([entry]), entry, dir);
    expect(missing).toEqual([
      'bare (entry.ts:3)',
      'lineCommented (entry.ts:5)',
      'EmptyDoc (entry.ts:7)',
      'firstAfterFileComment (other.ts:5)',
    ]);
  });
});
