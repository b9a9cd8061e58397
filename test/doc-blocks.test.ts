/**
 * Every fenced code block of README.md and docs/**\/*.md is checked, so no example rots:
 *
 * - ```ts / ```typescript, ```js / ```javascript / ```mjs: type-checked against the
 *   package's sources with the repository's strict options ('sabnetmap' and
 *   'sabnetmap/shm' resolve to src/index.ts and shm/index.ts), each block a module of its own.
 * - ```sh / ```bash / ```shell / ```console: every `sabnetmap` or `npx sabnetmap` command
 *   names a command the CLI has and only flags that command takes (read from the CLI's
 *   option tables in src/cli/*.ts, not by running it); every `npm start`, `npm test` and
 *   `npm run X` names a script of package.json.
 * - ```json / ```jsonc: parses; a scenario (it has "experiment") must pass validateScenario.
 * - ```text / ```txt: not checked (output, diagrams).
 *
 * A block with no language, or one no checker knows, fails: say ```text if it is not code.
 * The HTML comments on the lines just before a block steer it:
 *   <!-- not-checked: why -->       skips it, saying why;
 *   <!-- context: declarations -->  TypeScript put before a ts/js block, for what the
 *                                   snippet assumes (`declare const frame: Uint8Array;`).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { validateScenario } from '../bench/scenario.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// ---- fenced blocks ----

interface Block {
  /** The Markdown file, relative to the repository, and the line of the opening fence (1-based). */
  file: string;
  line: number;
  lang: string;
  code: string;
  /** From `<!-- not-checked: why -->` before the block. */
  notChecked?: string;
  /** From `<!-- context: ... -->` before the block. */
  context: string;
}

/** The fenced code blocks of a Markdown text, with the steering comments just above each. */
function fencedBlocks(file: string, text: string): Block[] {
  const lines = text.split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*(?:[-*+] |\d+\. )?(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i]);
    if (open === null) continue;
    const indent = lines[i].length - lines[i].trimStart().length;
    const fence = open[1];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const t = lines[j].trim();
      if (t.startsWith(fence[0].repeat(fence.length)) && t.replace(/[`~]/g, '') === '') break;
      body.push(lines[j].slice(Math.min(indent, lines[j].length - lines[j].trimStart().length)));
    }
    const block: Block = { file, line: i + 1, lang: open[2].toLowerCase(), code: body.join('\n'), context: '' };
    for (let k = i - 1; k >= 0; k--) {
      const c = /^\s*<!--\s*(not-checked|context):\s*([\s\S]*?)\s*-->\s*$/.exec(lines[k]);
      if (c === null) break;
      if (c[1] === 'not-checked') block.notChecked = c[2];
      else block.context = `${c[2]}\n${block.context}`;
    }
    out.push(block);
    i = j;
  }
  return out;
}

/** README.md and every docs/**\/*.md but the generated API reference (docs/api). */
function docFiles(): string[] {
  const files = existsSync(join(ROOT, 'README.md')) ? ['README.md'] : [];
  const walk = (dir: string): void => {
    if (!existsSync(join(ROOT, dir))) return;
    for (const name of readdirSync(join(ROOT, dir)).sort()) {
      const rel = `${dir}/${name}`;
      if (rel === 'docs/api') continue;
      if (statSync(join(ROOT, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.md')) files.push(rel);
    }
  };
  walk('docs');
  return files;
}

// ---- ts and js: one program, every block a module ----

const TS_LANGS = new Set(['ts', 'typescript']);
const JS_LANGS = new Set(['js', 'javascript', 'mjs']);

/** Per block (by its key), the type errors of its code, each `file:line: message`. */
function typeCheck(blocks: Block[]): Map<string, string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'sabnetmap-doc-blocks-'));
  try {
    const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
    const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
    const files = new Map<string, { block: Block; first: number }>();
    blocks.forEach((b, i) => {
      const name = join(dir, `block${i}.${TS_LANGS.has(b.lang) ? 'mts' : 'mjs'}`);
      const context = b.context === '' ? '' : `${b.context.trimEnd()}\n`;
      // `export {}`: a module even without imports, so blocks never share names.
      writeFileSync(name, `${context}${b.code}\nexport {};\n`);
      files.set(name, { block: b, first: b.line + 1 - context.split('\n').length + 1 });
    });
    const program = ts.createProgram([...files.keys()], {
      ...options,
      noEmit: true,
      incremental: false,
      declaration: false,
      sourceMap: false,
      allowJs: true,
      checkJs: true,
      rootDir: undefined,
      outDir: undefined,
      typeRoots: [join(ROOT, 'node_modules', '@types')],
      paths: { sabnetmap: [join(ROOT, 'src', 'index.ts')], 'sabnetmap/shm': [join(ROOT, 'shm', 'index.ts')] },
    });
    const out = new Map<string, string[]>();
    for (const [name, { block, first }] of files) {
      const sf = program.getSourceFile(name);
      const diags = sf ? [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)] : [];
      out.set(
        key(block),
        diags.map((d) => {
          const at = d.start === undefined || sf === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
          return `${block.file}:${first + at}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
        }),
      );
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- sh: the CLI's commands and flags, from its option tables ----

interface CliModel {
  /** Command ('pkt-gen', 'bench run') -> the flags it takes ('--port', '-i'). */
  commands: Map<string, Set<string>>;
}

/** The option names of an options object literal (`{ port: { type: 'string', short: 'p' } }`). */
function optionFlags(obj: ts.ObjectLiteralExpression): string[] {
  const flags: string[] = [];
  for (const p of obj.properties) {
    if (!ts.isPropertyAssignment(p)) continue;
    const name = ts.isIdentifier(p.name) || ts.isStringLiteral(p.name) ? p.name.text : undefined;
    if (name === undefined) continue;
    flags.push(`--${name}`);
    if (ts.isObjectLiteralExpression(p.initializer)) {
      for (const q of p.initializer.properties) {
        if (ts.isPropertyAssignment(q) && q.name.getText() === 'short' && ts.isStringLiteral(q.initializer)) {
          flags.push(`-${q.initializer.text}`);
        }
      }
    }
  }
  return flags;
}

/**
 * The CLI as src/cli/*.ts declares it: main()'s switch names the commands (and `bench`'s
 * `rest[0] === 'X'` branches its subcommands); each command takes the options of the
 * parse / parseWithArgs / parseArgs calls in the functions it calls, followed through
 * the functions of src/cli. parse and parseWithArgs add --help and --log-level.
 */
function cliModel(): CliModel {
  const dir = join(ROOT, 'src', 'cli');
  const sources = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ts.createSourceFile(f, readFileSync(join(dir, f), 'utf8'), ts.ScriptTarget.ES2022, true));
  const functions = new Map<string, ts.Node>();
  const objects = new Map<string, ts.ObjectLiteralExpression>();
  // Names are followed across the files of src/cli (each command has its own file): one
  // defined twice would be followed to the wrong body, so it fails here instead.
  const define = <T>(m: Map<string, T>, name: string, v: T, sf: ts.SourceFile): void => {
    if (m.has(name)) throw new Error(`src/cli: '${name}' is defined twice (again in ${sf.fileName}): rename one`);
    m.set(name, v);
  };
  for (const sf of sources) {
    for (const st of sf.statements) {
      if (ts.isFunctionDeclaration(st) && st.name && st.body) define(functions, st.name.text, st.body, sf);
      if (ts.isVariableStatement(st)) {
        for (const d of st.declarationList.declarations) {
          let init = d.initializer;
          while (init && (ts.isAsExpression(init) || ts.isSatisfiesExpression(init))) init = init.expression;
          if (ts.isIdentifier(d.name) && init && ts.isObjectLiteralExpression(init)) {
            define(objects, d.name.text, init, sf);
          }
        }
      }
    }
  }
  const literal = (e: ts.Expression | undefined): ts.ObjectLiteralExpression | undefined =>
    e === undefined
      ? undefined
      : ts.isObjectLiteralExpression(e)
        ? e
        : ts.isIdentifier(e)
          ? objects.get(e.text)
          : undefined;
  const memo = new Map<string, Set<string>>();
  const flagsOf = (node: ts.Node, seen: Set<string>): Set<string> => {
    const flags = new Set<string>();
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ts.isIdentifier(n.expression)) {
        const callee = n.expression.text;
        if (callee === 'parse' || callee === 'parseWithArgs') {
          for (const f of [
            ...optionFlags(literal(n.arguments[1]) ?? ts.factory.createObjectLiteralExpression()),
            '--help',
            '--log-level',
          ]) {
            flags.add(f);
          }
        } else if (callee === 'parseArgs' && n.arguments[0] && ts.isObjectLiteralExpression(n.arguments[0])) {
          const opts = n.arguments[0].properties.find(
            (p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && p.name.getText() === 'options',
          );
          const obj = literal(opts?.initializer);
          if (obj) for (const f of optionFlags(obj)) flags.add(f);
        } else if (functions.has(callee) && !seen.has(callee)) {
          seen.add(callee);
          const inner = memo.get(callee) ?? flagsOf(functions.get(callee)!, seen);
          memo.set(callee, inner);
          for (const f of inner) flags.add(f);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(node);
    return flags;
  };

  const main = functions.get('main');
  if (main === undefined) throw new Error('src/cli: no function main');
  let sw: ts.SwitchStatement | undefined;
  const find = (n: ts.Node): void => {
    if (sw === undefined && ts.isSwitchStatement(n)) sw = n;
    else ts.forEachChild(n, find);
  };
  find(main);
  if (sw === undefined) throw new Error('src/cli/main.ts: no switch in main()');
  const commands = new Map<string, Set<string>>();
  let pending: string[] = [];
  for (const clause of sw.caseBlock.clauses) {
    if (ts.isCaseClause(clause) && ts.isStringLiteral(clause.expression)) pending.push(clause.expression.text);
    if (clause.statements.length === 0) continue;
    const body = ts.factory.createBlock(clause.statements);
    for (const name of pending) {
      commands.set(name, flagsOf(body, new Set()));
      // `bench`: each `rest[0] === 'X'` branch is the subcommand `bench X`.
      for (const st of clause.statements) {
        if (
          ts.isIfStatement(st) &&
          ts.isBinaryExpression(st.expression) &&
          st.expression.operatorToken.kind === ts.SyntaxKind.EqualsEqualsEqualsToken &&
          ts.isStringLiteral(st.expression.right)
        ) {
          commands.set(`${name} ${st.expression.right.text}`, flagsOf(st.thenStatement, new Set()));
        }
      }
    }
    pending = [];
  }
  // A command with subcommands (`bench`) is not one by itself.
  for (const name of [...commands.keys()]) {
    if ([...commands.keys()].some((k) => k.startsWith(`${name} `))) commands.delete(name);
  }
  return { commands };
}

/** A command line without its comment, split into words (quotes dropped). */
function words(line: string): string[] {
  const noComment = line.replace(/(^|\s)#.*$/, '');
  return (noComment.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^["']|["']$/g, ''));
}

/** What is wrong with the commands of a shell block (none: an empty list). */
function shellProblems(code: string, cli: CliModel, scripts: Record<string, string>): string[] {
  const problems: string[] = [];
  const joined = code.replace(/\\\n/g, ' ');
  for (const raw of joined.split('\n')) {
    for (const part of raw.replace(/^\s*\$\s+/, '').split(/\s*(?:&&|\|\||;|\s\|\s)\s*/)) {
      let w = words(part);
      while (w[0] === 'sudo' || /^[A-Z_][A-Z0-9_]*=/.test(w[0] ?? '')) w = w.slice(1);
      if (w[0] === 'npm') {
        const script =
          w[1] === 'run' || w[1] === 'run-script' ? w[2] : w[1] === 'start' || w[1] === 'test' ? w[1] : null;
        if (script !== null && script !== undefined && !(script in scripts)) {
          problems.push(`'${part.trim()}': package.json has no script '${script}'`);
        }
        continue;
      }
      if (w[0] === 'npx') w = w.slice(1);
      if (w[0] !== 'sabnetmap') continue;
      const args = w.slice(1);
      const cmd =
        args[0] === 'bench' && args[1] !== undefined && !args[1].startsWith('-') ? `bench ${args[1]}` : args[0];
      const flags = cmd === undefined ? undefined : cli.commands.get(cmd);
      if (flags === undefined) {
        problems.push(`'${part.trim()}': no command '${cmd ?? ''}' (${[...cli.commands.keys()].join(', ')})`);
        continue;
      }
      for (const a of args.slice(cmd.split(' ').length)) {
        const flag = /^\[?(--?[A-Za-z][\w-]*)/.exec(a)?.[1];
        if (flag !== undefined && !flags.has(flag)) {
          problems.push(`'${part.trim()}': ${cmd} has no flag ${flag} (it takes ${[...flags].sort().join(' ')})`);
        }
      }
    }
  }
  return problems;
}

// ---- the checks ----

const key = (b: Block): string => `${b.file}:${b.line}`;
const SH_LANGS = new Set(['sh', 'bash', 'shell', 'console']);
const JSON_LANGS = new Set(['json', 'jsonc']);
const SKIPPED = new Set(['text', 'txt']);

const blocks = docFiles().flatMap((f) => fencedBlocks(f, readFileSync(join(ROOT, f), 'utf8')));
const checked = blocks.filter((b) => b.notChecked === undefined && !SKIPPED.has(b.lang));
let typeErrors: Map<string, string[]> | undefined;
const typeErrorsOf = (b: Block): string[] => {
  typeErrors ??= typeCheck(checked.filter((c) => TS_LANGS.has(c.lang) || JS_LANGS.has(c.lang)));
  return typeErrors.get(key(b)) ?? [];
};
let cli: CliModel | undefined;
const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
  .scripts;

/** What is wrong with a block (none: an empty list). */
function problemsOf(b: Block): string[] {
  if (TS_LANGS.has(b.lang) || JS_LANGS.has(b.lang)) return typeErrorsOf(b);
  if (SH_LANGS.has(b.lang)) {
    cli ??= cliModel();
    return shellProblems(b.code, cli, scripts);
  }
  if (JSON_LANGS.has(b.lang)) {
    let json: unknown;
    try {
      json = JSON.parse(b.lang === 'jsonc' ? b.code.replace(/^\s*\/\/.*$/gm, '') : b.code);
    } catch (e) {
      return [`not valid JSON: ${(e as Error).message}`];
    }
    if (typeof json !== 'object' || json === null || !('experiment' in json)) return [];
    try {
      validateScenario(json);
      return [];
    } catch (e) {
      return [`not a valid scenario: ${(e as Error).message}`];
    }
  }
  return [
    b.lang === ''
      ? 'a block with no language: say which (```text if it is not code)'
      : `no checker for \`\`\`${b.lang}: say \`\`\`text, or add <!-- not-checked: why --> before it`,
  ];
}

/**
 * Blocks known to fail, until they are fixed: `file: first line of code` -> why. Each is
 * expected to fail: one that passes fails its test, so the entry goes once the block is
 * fixed. Empty since the docs restructure (issue 17): keep it so.
 */
const KNOWN_FAILING: Record<string, string> = {};
const fingerprint = (b: Block): string => `${b.file}: ${b.code.split('\n').find((l) => l.trim() !== '') ?? ''}`;

describe('code blocks in README.md and docs/', () => {
  const named = (b: Block): [string, Block] => [`${key(b)} \`\`\`${b.lang || '(none)'}`, b];
  it.each(checked.filter((b) => !(fingerprint(b) in KNOWN_FAILING)).map(named))('%s checks', (_name, b) => {
    expect(problemsOf(b)).toEqual([]);
  });

  const known = checked.filter((b) => fingerprint(b) in KNOWN_FAILING);
  it.each(known.map((b): [string, string, Block] => [named(b)[0], KNOWN_FAILING[fingerprint(b)], b]))(
    '%s fails, as known until the restructure: %s',
    (_name, _why, b) => {
      expect(problemsOf(b), 'this block passes now: remove it from KNOWN_FAILING').not.toEqual([]);
    },
  );

  it('lists in KNOWN_FAILING only blocks that exist', () => {
    const prints = new Set(checked.map(fingerprint));
    expect(Object.keys(KNOWN_FAILING).filter((k) => !prints.has(k))).toEqual([]);
  });
});

// ---- links: every relative link of README.md and docs/ names a file that exists, and a heading of it ----

/** A heading's anchor as GitHub makes it (lower case, punctuation but '-' and '_' dropped, spaces to '-'). */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** A Markdown text without its fenced blocks (and, unless `keepCode`, its inline code): links there are not links. */
function prose(text: string, keepCode = false): string {
  const noBlocks = text.replace(/^\s*(`{3,}|~{3,})[\s\S]*?^\s*\1\s*$/gm, '');
  return keepCode ? noBlocks : noBlocks.replace(/`[^`\n]*`/g, '');
}

/** The anchors of a Markdown file's headings (a repeated heading gets -1, -2 ...). */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of prose(text, true).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** What is wrong with the relative links of `file` (none: an empty list). */
function linkProblems(file: string, text: string, read: (path: string) => string | null): string[] {
  const problems: string[] = [];
  const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.';
  for (const m of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const [path, anchor] = target.split('#', 2);
    const resolved = path === '' ? file : join(dir, path).split('\\').join('/');
    const body = read(resolved);
    if (body === null) {
      problems.push(`${file}: ${target}: no file ${resolved}`);
      continue;
    }
    if (anchor !== undefined && resolved.endsWith('.md') && !anchors(body).has(anchor)) {
      problems.push(`${file}: ${target}: ${resolved} has no heading #${anchor}`);
    }
  }
  return problems;
}

const readRel = (rel: string): string | null => {
  const abs = join(ROOT, rel);
  if (!existsSync(abs)) return null;
  return statSync(abs).isDirectory() ? '' : readFileSync(abs, 'utf8');
};

describe('links in README.md and docs/', () => {
  it.each(docFiles())('%s: every relative link names a file and a heading that exist', (file) => {
    expect(linkProblems(file, readFileSync(join(ROOT, file), 'utf8'), readRel)).toEqual([]);
  });

  it('resolve files and GitHub anchors, and skip code and absolute URLs', () => {
    const files: Record<string, string> = {
      'docs/a.md': '# A page\n\n## The `poll` call: wake-ups\n\n## Twice\n\n## Twice\n',
    };
    const read = (p: string) => files[p] ?? null;
    const text = [
      '[ok](a.md#the-poll-call-wake-ups) [dup](a.md#twice-1) [top](#a-page) [web](https://x.org/y#z)',
      '[bad file](b.md) [bad anchor](a.md#nope) `[code](c.md)`',
      '```text',
      '[in a block](d.md)',
      '```',
    ].join('\n');
    expect(linkProblems('docs/a.md', `# A page\n${text}`, read)).toEqual([
      'docs/a.md: b.md: no file docs/b.md',
      'docs/a.md: a.md#nope: docs/a.md has no heading #nope',
    ]);
  });
});

describe('the block checks', () => {
  const md = (text: string): Block[] => fencedBlocks('t.md', text.split('\n').slice(1).join('\n'));

  it('find each fenced block with its language, first line and steering comments', () => {
    const found = md(`
text
<!-- not-checked: needs a NIC -->
\`\`\`sh
sabnetmap x
\`\`\`
<!-- context: declare const frame: Uint8Array; -->
~~~ts
frame.length;
~~~
- a list item:
  \`\`\`json
  {}
  \`\`\`
`);
    expect(found.map((b) => [b.line, b.lang, b.code, b.notChecked ?? null, b.context.trim()])).toEqual([
      [3, 'sh', 'sabnetmap x', 'needs a NIC', ''],
      [7, 'ts', 'frame.length;', null, 'declare const frame: Uint8Array;'],
      [11, 'json', '{}', null, ''],
    ]);
  });

  it('type-check a ts block against the package, with its context, and report the Markdown line', () => {
    const [good, bad, withContext] = md(`
\`\`\`ts
import { Netmap, POLLIN } from 'sabnetmap';
const nm: Netmap = new Netmap();
nm.close();
console.log(POLLIN);
\`\`\`
\`\`\`ts
import { Netmap } from 'sabnetmap';
new Netmap().nosuch();
\`\`\`
<!-- context: declare const frame: Uint8Array; -->
\`\`\`ts
frame.length.toFixed();
\`\`\`
`);
    const errors = typeCheck([good, bad, withContext]);
    expect(errors.get(key(good))).toEqual([]);
    expect(errors.get(key(bad))).toEqual([expect.stringMatching(/^t\.md:9: Property 'nosuch' does not exist/)]);
    expect(errors.get(key(withContext))).toEqual([]);
  });

  it("check a sabnetmap command line's command and flags against the CLI's option tables", () => {
    const model = cliModel();
    expect(model.commands.get('pkt-gen')).toContain('--port');
    expect(model.commands.get('bench run')).toContain('--seconds');
    // Followed into each command's own file (src/cli/<command>.ts).
    for (const [cmd, flag] of [
      ['ping', '--peer'],
      ['isolation', '--guest'],
      ['stress', '--transitions'],
      ['start', '--out'],
      ['demo', '--host'],
      ['bench micro', '--time-ms'],
      ['bench peers', '--seconds'],
      ['replay', '--loop'],
      ['lb', '--seconds'],
    ]) {
      expect(model.commands.get(cmd), cmd).toContain(flag);
    }
    expect(
      shellProblems(
        [
          'npx sabnetmap pkt-gen --port pipe|vale --batch 64 [--json]   # a comment --nosuch',
          'sudo npx sabnetmap bench run pipe-batch --seconds=0.5',
          'npx sabnetmap pkt-gen --frobnicate',
          'sabnetmap teleport',
          'npm install && npm start && npm run nosuch',
        ].join('\n'),
        model,
        { start: '', test: '' },
      ),
    ).toEqual([
      expect.stringMatching(/^'npx sabnetmap pkt-gen --frobnicate': pkt-gen has no flag --frobnicate/),
      expect.stringMatching(/^'sabnetmap teleport': no command 'teleport'/),
      "'npm run nosuch': package.json has no script 'nosuch'",
    ]);
  });

  it('validate a json block that is a scenario, and fail a block with no language', () => {
    const [scenario, untagged] = md(`
\`\`\`json
{ "name": "x", "experiment": "pktgen", "sweep": { "batch": [0] } }
\`\`\`
\`\`\`
plain
\`\`\`
`);
    expect(problemsOf(scenario)).toEqual([expect.stringMatching(/scenario\.sweep\.batch\[0\]: must be a positive/)]);
    expect(problemsOf(untagged)).toEqual([expect.stringMatching(/no language/)]);
  });

  it('name the files it reads: README.md and docs/**/*.md without docs/api', () => {
    expect(docFiles()[0]).toBe('README.md');
    expect(docFiles().every((f) => f === 'README.md' || (f.startsWith('docs/') && !f.startsWith('docs/api/')))).toBe(
      true,
    );
  });
});
