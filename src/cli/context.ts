/**
 * What the CLI's entry (main.ts) hands each command: the usage text, and the one way a run
 * is stopped early (an AbortSignal), which a command asks for explicitly. A command that
 * asks for it says it can stop cleanly: a closed stdout or stderr then aborts the signal
 * and the command ends on its own (exit 0); one that does not ask exits at once on a
 * closed output (it has nothing to stop). `interruptible()` adds Ctrl-C: the first aborts
 * the signal (the command writes what it has, exit EXIT_INTERRUPTED), the second quits.
 *
 * Hazard: main.ts's process handlers (SIGINT, EPIPE) read the same state; commands never
 * install handlers of their own for these (demo's SIGINT/SIGTERM close its server: it
 * never asks for the signal).
 */

/** Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report one. */
export const EXIT_INTERRUPTED = 130;

/** The entry's side of a command: usage text, the stop signal, and whether Ctrl-C came. */
export interface CliContext {
  /** The usage text, for a command's --help. */
  readonly help: string;
  /** The command stops cleanly on this signal: a closed output aborts it (no exit at once). */
  stoppable(): AbortSignal;
  /** As stoppable(), and the first Ctrl-C aborts it too (the second quits at once). */
  interruptible(): AbortSignal;
  /** True once the first Ctrl-C came: the command ends with EXIT_INTERRUPTED. */
  interrupted(): boolean;
}

/**
 * For commands that serve until they are told to stop (demo, switch): resolves with 128 +
 * the signal's number once SIGINT or SIGTERM came and `cleanup` finished; a second signal
 * quits at once. Install it before printing what a reader may signal on.
 */
export function untilSignal(cleanup: () => Promise<unknown>): Promise<number> {
  return new Promise<number>((done) => {
    let stopping = false;
    for (const [name, no] of [
      ['SIGINT', 2],
      ['SIGTERM', 15],
    ] as const) {
      process.on(name, () => {
        if (stopping) process.exit(128 + no);
        stopping = true;
        cleanup().finally(() => done(128 + no));
      });
    }
  });
}
