/**
 * The demo's first check: SharedArrayBuffer (where every ring, slot and CSB lives) exists
 * only on a cross-origin isolated page, and a page served without the two headers is not
 * one. Instead of failing silently (or with "SharedArrayBuffer is not defined" in the
 * console), the page says what is missing, in plain words, in a box at the top.
 *
 * Contract with test/demo-server.test.ts: the box is `#isolation-problem`, visible, and its
 * text names cross-origin isolation and both headers. Call showIsolationProblem() before
 * anything touches SharedArrayBuffer; importing the library itself is fine (it makes no
 * shared memory at load).
 */

/** The box's id (tests look for it). */
export const ISOLATION_PROBLEM_ID = 'isolation-problem';

/** What a paragraph is made of: text, or `{ code }` for a header, a command or a file (`href`: a link to it). */
type Part = string | { code: string; href?: string };

/** Why this page cannot have SharedArrayBuffer, as paragraphs; null when it can. */
export function isolationProblem(): Part[][] | null {
  if (globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function') return null;
  const out: Part[][] = [];
  if (!globalThis.isSecureContext) {
    out.push([
      `This page was loaded over plain HTTP from ${location.host}. Browsers isolate only pages loaded over HTTPS or from this machine (`,
      { code: 'localhost' },
      ', ',
      { code: '127.0.0.1' },
      '): open it from the computer that serves it, or host it over HTTPS.',
    ]);
  }
  if (globalThis.crossOriginIsolated !== true) {
    out.push([
      'This page is not cross-origin isolated, so the browser withholds SharedArrayBuffer, the shared memory that the rings, slots and CSB of this demo live in. The web server must send two headers with every file of the demo (the page, ',
      { code: 'main.js' },
      ' and ',
      { code: 'worker.js' },
      '):',
    ]);
    out.push([{ code: 'Cross-Origin-Opener-Policy: same-origin' }]);
    out.push([{ code: 'Cross-Origin-Embedder-Policy: require-corp' }]);
    out.push([
      { code: 'npx sabnetmap demo' },
      ' serves the demo with both. To host this copy on another server (nginx, Apache, Netlify, Cloudflare Pages), see ',
      { code: 'HEADERS.md', href: './HEADERS.md' },
      ' next to this page.',
    ]);
  } else {
    out.push([
      'This page is cross-origin isolated, but this browser has no SharedArrayBuffer: try a current Chromium, Firefox or Safari.',
    ]);
  }
  return out;
}

/** Shows the problem, if any, in a visible box at the top of the page; true when there was one. */
export function showIsolationProblem(doc: Document = document): boolean {
  const problem = isolationProblem();
  if (problem === null) return false;
  const box = doc.createElement('section');
  box.id = ISOLATION_PROBLEM_ID;
  box.setAttribute('role', 'alert');
  box.style.cssText =
    'border:2px solid #b00020;background:#fff4f4;color:#222;padding:1em 1.25em;margin:1em;font:16px/1.5 system-ui,sans-serif;max-width:50em';
  const title = doc.createElement('h2');
  title.textContent = 'The demo cannot run here: no cross-origin isolation';
  title.style.margin = '0 0 .5em';
  box.append(title);
  for (const parts of problem) {
    const p = doc.createElement('p');
    p.style.margin = '.5em 0';
    for (const part of parts) {
      if (typeof part === 'string') p.append(part);
      else {
        const c = doc.createElement('code');
        c.textContent = part.code;
        if (part.href === undefined) p.append(c);
        else {
          const a = doc.createElement('a');
          a.href = part.href;
          a.append(c);
          p.append(a);
        }
      }
    }
    box.append(p);
  }
  doc.body.prepend(box);
  return true;
}
