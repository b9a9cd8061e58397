/**
 * A progress bar over a sweep, on a terminal: the bar stays on the last line (redrawn in
 * place twice a second) and finished rows print above it. Only used when stderr is a TTY;
 * elsewhere the runner writes one plain line per point.
 */
import type { WriteStream } from 'node:tty';

const CLEAR = '\r\x1b[2K';

/** What the bar writes to: a terminal stream (or a stand-in with a `write`). */
export type LiveOut = Pick<WriteStream, 'write'> & { columns?: number };

function duration(s: number): string {
  const t = Math.max(0, Math.round(s));
  return t >= 60 ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
}

export class LiveProgress {
  private index = 0;
  private what = '';
  private pointStart = 0;
  private readonly runStart = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly total: number,
    /** Estimated seconds per point, until some have run. */
    private readonly perPointS: number,
    private readonly out: LiveOut = process.stderr,
  ) {}

  /** Point `index` (0-based) starts: `what` names its parameters. */
  start(index: number, what: string): void {
    this.index = index;
    this.what = what;
    this.pointStart = Date.now();
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.draw(), 500);
      this.timer.unref();
    }
    this.draw();
  }

  /** Prints lines above the bar. */
  print(text: string): void {
    this.out.write(`${CLEAR}${text.replace(/\n$/, '')}\n`);
    if (this.timer !== undefined) this.draw();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.out.write(CLEAR);
  }

  /** The bar's text (also what tests look at). */
  line(now = Date.now()): string {
    const inPoint = (now - this.pointStart) / 1000;
    const perPoint = this.index > 0 ? (this.pointStart - this.runStart) / 1000 / this.index : this.perPointS;
    const frac = Math.min(1, (this.index + Math.min(0.99, inPoint / Math.max(perPoint, 1e-3))) / this.total);
    const width = 24;
    const full = Math.round(frac * width);
    const left = Math.max(0, (this.total - this.index) * perPoint - inPoint);
    const text =
      `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${this.index + 1}/${this.total} ` +
      `${String(Math.floor(frac * 100)).padStart(3)}%  ~${duration(left)} left  ${this.what}`;
    // A pseudo-terminal may report 0 columns.
    const cols = (this.out.columns ?? 0) >= 40 ? this.out.columns! : 100;
    return text.length >= cols ? `${text.slice(0, Math.max(10, cols - 2))}…` : text;
  }

  private draw(): void {
    this.out.write(`${CLEAR}${this.line()}`);
  }
}
