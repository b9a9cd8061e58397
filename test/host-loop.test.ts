import { describe, expect, it } from 'vitest';
import { type HostLoopHooks, runHostLoop } from '../src/host-loop.js';

/** A host thread with no work ever: it lingers 0 µs, then sleeps 1 ms bounded sleeps. */
function idleHooks(): HostLoopHooks & { steps: number } {
  const hooks = {
    steps: 0,
    bell: new Int32Array(new SharedArrayBuffer(64)),
    step(): boolean {
      hooks.steps++;
      return false;
    },
    beforeSleep(): void {},
    afterSleep(): void {},
  };
  return hooks;
}

function stopAfter(checks: number): () => boolean {
  let n = 0;
  return () => ++n > checks;
}

describe('runHostLoop around hook', () => {
  it('passes every step of the loop, the drain included, through the wrapper', () => {
    const h = idleHooks();
    let wrapped = 0;
    runHostLoop(h, {
      lingerUs: 0,
      busyWait: false,
      pollMs: 1,
      stop: stopAfter(3),
      around: (step) => () => {
        wrapped++;
        return step();
      },
    });
    expect(h.steps).toBeGreaterThan(0);
    expect(wrapped).toBe(h.steps);
  });

  it('a wrapper that returns true keeps the thread from sleeping', () => {
    const h = idleHooks();
    let passes = 0;
    const r = runHostLoop(h, {
      lingerUs: 0,
      busyWait: false,
      pollMs: 1,
      stop: stopAfter(3),
      drainMs: 0,
      // Held (as the demo's single step holds a thread): the loop must not sleep, and
      // the drain ends on the time bound.
      around: (step) => () => {
        step();
        return ++passes < 1000;
      },
    });
    expect(r.sleeps).toBe(0);
  });

  it('without a wrapper an idle thread sleeps', () => {
    const h = idleHooks();
    const r = runHostLoop(h, { lingerUs: 0, busyWait: false, pollMs: 1, stop: stopAfter(3) });
    expect(r.sleeps).toBeGreaterThan(0);
  });
});
