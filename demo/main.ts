/**
 * The teaching demo's page (bundled to main.js): the real library in Web Workers, drawn
 * live. It checks cross-origin isolation first (without it there is no SharedArrayBuffer,
 * and the page says why in plain words), then builds the chosen lesson's setup: a Netmap
 * namespace, its ports, guests (passThrough, emulateNic), and a worker per thread.
 *
 * Hazards:
 * - The main thread never blocks: Atomics.wait throws here. It registers ports, posts
 *   descriptors, stores to the control block (speed, gates) and notifies; the workers
 *   block (poll, Atomics.wait) or spin.
 * - Drawing costs the hot path nothing: the page samples shared memory once per
 *   animation frame (reads only) and draws from that sample on canvases (a few arcs per
 *   ring, whatever its size; no DOM node per slot). Text panels change only when a value does.
 *
 * `window.sabnetmapDemo.state()` returns a copy of what is drawn (pointers, counters,
 * thread states, rates, lesson and speed) for tests and the curious.
 */
import { Controls } from './controls.js';
import { Lanes } from './draw-lanes.js';
import { drawScene } from './draw-scene.js';
import { showIsolationProblem } from './isolation.js';
import { buildLanesLegend, buildLegend } from './legend.js';
import { type Config, LESSONS, type Lesson, lessonById, type Speed } from './lessons.js';
import { Panels } from './panels.js';
import { MODE_NAMES } from './protocol.js';
import { RateMeter, type Rates } from './rates.js';
import { newSnapshot, type Snapshot, sample } from './sample.js';
import { Setup } from './setup.js';

export interface DemoApi {
  /** A copy of the live state the page draws. */
  state(): DemoState;
  /** The lessons' ids, in order. */
  readonly lessons: readonly string[];
}

export type DemoState = ReturnType<typeof buildState>;

declare global {
  interface Window {
    sabnetmapDemo?: DemoApi;
    /** { isolated } once the page knows (the demo server's tests look at it). */
    __result?: { isolated: boolean };
  }
}

const WORKER_URL = new URL('./worker.js', import.meta.url).href;

/**
 * Frame timing over the last RECENT frames (the page must stay responsive, frames well
 * under 50 ms, at full speed): the work a frame did here, and the time between frames
 * (which also counts the browser's own painting and the time the OS gave other threads).
 */
const RECENT = 300;
class FrameStats {
  count = 0;
  lastWorkMs = 0;
  private last = 0;
  private readonly work = new Float64Array(RECENT);
  private readonly interval = new Float64Array(RECENT);
  frame(start: number, end: number): void {
    const i = this.count % RECENT;
    this.count++;
    this.lastWorkMs = end - start;
    this.work[i] = this.lastWorkMs;
    this.interval[i] = this.last === 0 ? 0 : start - this.last;
    this.last = start;
  }
  /** The largest frame work and interval among the recent frames, and how many intervals passed 50 ms. */
  recent(): { maxWorkMs: number; maxIntervalMs: number; over50: number } {
    let maxWorkMs = 0;
    let maxIntervalMs = 0;
    let over50 = 0;
    for (let k = 0; k < Math.min(this.count, RECENT); k++) {
      maxWorkMs = Math.max(maxWorkMs, this.work[k]);
      maxIntervalMs = Math.max(maxIntervalMs, this.interval[k]);
      if (this.interval[k] > 50) over50++;
    }
    return { maxWorkMs, maxIntervalMs, over50 };
  }
}

interface Live {
  setup: Setup;
  snap: Snapshot;
  meter: RateMeter;
  rates: Rates;
  lanes: Lanes;
  panels: Panels;
  frames: FrameStats;
  running: boolean;
  /** When the canvases and the panels were last painted, and the canvases' period now (0: every frame). */
  paintedAt: number;
  panelsAt: number;
  paintMs: number;
}

/** Paint periods (ms): canvases and panels at full speed without a spare core, panels otherwise. */
const PAINT_THIN_MS = 100;
const PANELS_THIN_MS = 250;
const PANELS_MS = 100;
/** Height of a thread's lane. */
const LANE_PX = 24;

function buildState(lesson: Lesson, speed: Speed, live: Live | null, errors: readonly string[]) {
  const cores = navigator.hardwareConcurrency || 1;
  if (live === null)
    return { isolated: true, lesson: lesson.id, speed: speed.mode, running: false, errors: [...errors] };
  const { setup: s, snap, rates: r } = live;
  return {
    isolated: true,
    running: live.running,
    lesson: lesson.id,
    lessonTitle: lesson.title,
    speed: speed.mode,
    pauseMs: speed.pauseMs,
    config: { ...s.cfg },
    cores,
    threadCount: s.threads.length,
    rings: s.rings.map((spec, i) => {
      const x = snap.rings[i];
      return {
        name: spec.title,
        dir: spec.tx ? 'tx' : 'rx',
        numSlots: x.numSlots,
        head: x.head,
        cur: x.cur,
        tail: x.tail,
        hwcur: x.hwcur,
        hwtail: x.hwtail,
        peerTail: x.peerTail,
      };
    }),
    descRings: s.descRings.map((d, i) => ({ name: d.title, n: d.n, head: snap.descs[i].h, tail: snap.descs[i].t })),
    threads: s.threads.map((t, i) => ({
      name: t.name,
      role: t.role,
      state: snap.threads[i].state,
      syncs: snap.threads[i].syncs,
      packets: snap.threads[i].packets,
      kicks: snap.threads[i].kicks,
      irqs: snap.threads[i].irqs,
      doorbells: snap.threads[i].doorbells,
      syncsPerSec: r.syncsPerSec[i] ?? 0,
    })),
    totals: {
      packets: snap.packets,
      notifies: snap.notifies,
      kicks: snap.kicks,
      irqs: snap.irqs,
      mpps: r.mpps,
      notifiesPerPacket: r.notifiesPerPacket,
      kicksPerPacket: r.kicksPerPacket,
      irqsPerPacket: r.irqsPerPacket,
      rateSeconds: r.seconds,
    },
    csb: snap.csbs.map((c) => ({ irqWord: c.irqWord, entries: c.entries.map((e) => ({ ...e })) })),
    nic: snap.nics.map((n) => ({ ...n })),
    vale:
      snap.vale === null ? null : { learned: [...snap.vale.learned], ports: snap.vale.ports.map((p) => ({ ...p })) },
    frames: {
      paintIntervalMs: live.paintMs,
      count: live.frames.count,
      lastWorkMs: live.frames.lastWorkMs,
      recentFrames: Math.min(live.frames.count, RECENT),
      ...live.frames.recent(),
    },
    errors: [...errors],
  };
}

/** Sizes a canvas's backing store to its CSS box (device pixels); returns its CSS size and a scaled context. */
function fitCanvas(c: HTMLCanvasElement): { ctx: CanvasRenderingContext2D; w: number; h: number } | null {
  const ctx = c.getContext('2d');
  if (ctx === null) return null;
  const w = c.clientWidth;
  const h = c.clientHeight;
  const dpr = window.devicePixelRatio || 1;
  const bw = Math.max(1, Math.round(w * dpr));
  const bh = Math.max(1, Math.round(h * dpr));
  if (c.width !== bw || c.height !== bh) {
    c.width = bw;
    c.height = bh;
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h };
}

function start(): void {
  const ui = new Controls();
  const ringsCanvas = document.getElementById('rings') as HTMLCanvasElement;
  const lanesCanvas = document.getElementById('lanes') as HTMLCanvasElement;
  const panelsRoot = document.getElementById('panels') as HTMLElement;
  const legendRoot = document.getElementById('legend') as HTMLElement;
  buildLanesLegend(document.getElementById('lanes-legend') as HTMLElement);
  const errors: string[] = [];
  const params = new URLSearchParams(location.search);
  let lesson: Lesson = lessonById(params.get('lesson') ?? '') ?? LESSONS[0];
  let speed: Speed = lesson.speed;
  let live: Live | null = null;
  let generation = 0;
  let lastStepped = -1;

  for (const l of LESSONS) {
    const o = document.createElement('option');
    o.value = l.id;
    o.textContent = l.title;
    ui.lesson.append(o);
  }

  function restart(cfg: Config): void {
    const gen = ++generation;
    live?.setup.stop();
    live = null;
    let setup: Setup;
    try {
      setup = new Setup(cfg);
    } catch (e) {
      ui.say(`Could not build this setup: ${(e as Error).message}`, true);
      return;
    }
    const snap = newSnapshot(setup);
    const l: Live = {
      setup,
      snap,
      meter: new RateMeter(setup.threads.length),
      rates: new RateMeter(setup.threads.length).rates(),
      lanes: new Lanes(setup.threads.length),
      panels: new Panels(panelsRoot, setup),
      frames: new FrameStats(),
      running: false,
      paintedAt: 0,
      panelsAt: 0,
      paintMs: 0,
    };
    live = l;
    buildLegend(legendRoot, setup.descRings.length > 0);
    // A lane per thread: the rings get what the lanes do not need.
    lanesCanvas.style.height = `${setup.threads.length * LANE_PX + 6}px`;
    ui.setThreads(setup.threads.map((t) => t.name));
    ui.say(`Starting ${setup.threads.length} worker threads...`);
    setup
      .start(WORKER_URL, { mode: MODE_NAMES.indexOf(speed.mode), pauseMs: speed.pauseMs }, (m) => {
        errors.push(m);
        console.error(`sabnetmap demo: ${m}`);
      })
      .then(
        () => {
          if (gen !== generation) return;
          l.running = true;
          window.__result = { isolated: true };
          ui.say(`Running: ${setup.threads.length} worker threads.`);
        },
        (e: Error) => {
          if (gen === generation) ui.say(`A worker failed: ${e.message}`, true);
        },
      );
  }

  function useLesson(l: Lesson, overrides = false): void {
    lesson = l;
    speed = { ...l.speed };
    ui.lesson.value = l.id;
    ui.lessonText.textContent = l.text;
    ui.writeConfig(l.config);
    ui.writeSpeed(speed);
    if (overrides) {
      // The URL may change any control (?lesson=pipe&ring=16&speed=slow): written into the
      // form, then read back through it (so it is clamped as a person's input would be).
      const set = (id: string, v: string | null) => {
        const e = document.getElementById(id) as HTMLInputElement | HTMLSelectElement | null;
        if (v !== null && e !== null) {
          if (e instanceof HTMLInputElement && e.type === 'checkbox') e.checked = v === '1' || v === 'true';
          else e.value = v;
        }
      };
      for (const k of ['port', 'tx', 'rx', 'batch', 'ring', 'len', 'spin', 'linger', 'busy', 'notify', 'pause'])
        set(k, params.get(k));
      const m = params.get('speed');
      if (m !== null) set(`speed-${m}`, null);
      if (m !== null && (MODE_NAMES as readonly string[]).includes(m)) {
        (document.getElementById(`speed-${m}`) as HTMLInputElement).checked = true;
      }
      speed = ui.readSpeed(speed);
      ui.writeSpeed(speed);
    }
    restart(overrides ? ui.readConfig(l.config) : l.config);
  }

  function setSpeed(): void {
    speed = ui.readSpeed(speed);
    ui.writeSpeed(speed);
    live?.setup.setSpeed(MODE_NAMES.indexOf(speed.mode), speed.pauseMs);
  }

  /** Single step: one sync of the chosen thread, or of the next one waiting at its gate. */
  function stepOne(): void {
    if (live === null || speed.mode !== 'step') return;
    const s = live.setup;
    const states = live.snap.threads.map((t) => t.state);
    let t = -1;
    if (ui.stepThread.value === 'next') {
      for (let k = 1; k <= states.length; k++) {
        const c = (lastStepped + k) % states.length;
        if (states[c] === 'held') {
          t = c;
          break;
        }
      }
      if (t < 0) {
        ui.say("No thread is waiting at its gate yet: those asleep wait for a peer's news.");
        return;
      }
    } else {
      t = Number(ui.stepThread.value);
      if (states[t] !== 'held') {
        ui.say(`${s.threads[t].name} is ${states[t]}, not at its gate: it cannot be stepped now.`);
        return;
      }
    }
    // One release at a time: a click while the last one is untaken does nothing.
    if (s.pendingSteps(t) > 0) return;
    s.step(t);
    lastStepped = t;
    ui.say(`Stepped: one sync of ${s.threads[t].name}.`);
  }

  ui.lesson.addEventListener('change', () => {
    const l = lessonById(ui.lesson.value);
    if (l !== undefined) useLesson(l);
  });
  ui.apply.addEventListener('click', () => restart(ui.readConfig(lesson.config)));
  ui.onSpeed(setSpeed);
  ui.step.addEventListener('click', stepOne);
  document.addEventListener('keydown', (e) => {
    const tag = (e.target as HTMLElement | null)?.tagName ?? '';
    if ((e.key === 's' || e.key === 'S') && tag !== 'INPUT' && tag !== 'SELECT') stepOne();
  });

  /**
   * Every animation frame: sample, add to the rates and the lanes' history. Paint (canvases
   * and panels) every frame too, except at full speed on a machine without a spare core
   * for the page: then 10 times a second (panels 4). A repaint is work for the page, its
   * compositor and raster threads, and on such a machine each one takes a core from the
   * threads it shows: measured on 2 cores, a pipe at full speed ran 3.4 Mpps repainting at
   * 60 fps, ~35-39 at 10 fps, 54 not painting (Node: 54). At full speed the hands move
   * millions of times a second: 10 pictures a second show what 60 would.
   */
  function frame(): void {
    const t0 = performance.now();
    const l = live;
    if (l !== null) {
      sample(l.setup, l.snap);
      l.meter.add(l.snap);
      l.rates = l.meter.rates();
      const states = l.snap.threads.map((t) => t.state);
      l.lanes.push(states);
      const spare = (navigator.hardwareConcurrency || 1) > l.setup.threads.length + 1;
      const thin = speed.mode === 'full' && !spare;
      l.paintMs = thin ? PAINT_THIN_MS : 0;
      if (t0 - l.paintedAt >= l.paintMs) {
        l.paintedAt = t0;
        const rc = fitCanvas(ringsCanvas);
        if (rc !== null) drawScene(rc.ctx, rc.w, rc.h, l.setup, l.snap);
        const lc = fitCanvas(lanesCanvas);
        if (lc !== null) {
          const names = l.setup.threads.map((t) => t.name);
          l.lanes.draw(lc.ctx, lc.w, lc.h, names, states, l.rates.syncsPerSec);
        }
      }
      if (t0 - l.panelsAt >= (thin ? PANELS_THIN_MS : PANELS_MS)) {
        l.panelsAt = t0;
        l.panels.update(l.snap, l.rates, navigator.hardwareConcurrency || 1, t0);
      }
      l.frames.frame(t0, performance.now());
    }
    requestAnimationFrame(frame);
  }

  window.sabnetmapDemo = Object.freeze({
    lessons: Object.freeze(LESSONS.map((l) => l.id)),
    state: () => {
      if (live !== null && live.snap.t === 0) sample(live.setup, live.snap);
      return JSON.parse(JSON.stringify(buildState(lesson, speed, live, errors))) as DemoState;
    },
  });
  useLesson(lesson, true);
  requestAnimationFrame(frame);
}

if (showIsolationProblem()) {
  window.__result = { isolated: false };
  window.sabnetmapDemo = Object.freeze({
    lessons: Object.freeze(LESSONS.map((l) => l.id)),
    state: () => JSON.parse(JSON.stringify({ isolated: false })) as DemoState,
  });
} else {
  start();
}
