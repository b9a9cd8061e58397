/**
 * Fault injection for a pkt-gen role: the app's port is wrapped so that, once the role
 * has moved `afterPackets` packets (or `afterMs` have passed since its first poll), its
 * next poll or sync throws (a guest app that crashes) or ends the worker thread at once
 * with process.exit (a VM killed mid-flow: no finally block runs, nothing is released).
 */
import { isMainThread } from 'node:worker_threads';
import { ST_PACKETS } from '../../shm/layout.js';
import { NetmapError } from '../errors.js';
import type { NetmapPort } from '../port.js';
import type { NetmapRing } from '../ring.js';
import type { RoleStats } from './control.js';

export const FAULT_KINDS = ['throw', 'exit'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  /** Fire once the role's packet count reaches this. */
  afterPackets?: number;
  /** Or once this many ms have passed since the role's first poll or sync. */
  afterMs?: number;
}

/** Exit code of a worker that a fault ended. */
export const FAULT_EXIT_CODE = 70;

export function checkFault(f: Fault): Fault {
  if (f === null || typeof f !== 'object' || !(FAULT_KINDS as readonly string[]).includes(f.kind)) {
    throw new NetmapError('EINVAL', `fault kind must be ${FAULT_KINDS.join(' or ')}, got '${f?.kind}'`);
  }
  const { afterPackets: p, afterMs: ms } = f;
  if ((p === undefined) === (ms === undefined)) {
    throw new NetmapError('EINVAL', 'a fault needs exactly one of afterPackets and afterMs');
  }
  if (p !== undefined && !(Number.isInteger(p) && p >= 0)) {
    throw new NetmapError('EINVAL', `fault afterPackets must be a non-negative integer, got ${p}`);
  }
  if (ms !== undefined && !(ms >= 0 && Number.isFinite(ms))) {
    throw new NetmapError('EINVAL', `fault afterMs must be >= 0, got ${ms}`);
  }
  return f;
}

class FaultyPort implements NetmapPort {
  private t0 = -1;
  constructor(
    private readonly port: NetmapPort,
    private readonly fault: Fault,
    private readonly stats: RoleStats,
  ) {}
  get name(): string {
    return this.port.name;
  }
  get tx(): NetmapRing {
    return this.port.tx;
  }
  get rx(): NetmapRing {
    return this.port.rx;
  }
  get bufSize(): number {
    return this.port.bufSize;
  }
  poll(events: number, timeoutMs?: number, spinUs?: number): number {
    this.check();
    return this.port.poll(events, timeoutMs, spinUs);
  }
  txsync(): boolean {
    this.check();
    return this.port.txsync();
  }
  rxsync(): boolean {
    this.check();
    return this.port.rxsync();
  }

  private check(): void {
    const f = this.fault;
    const packets = this.stats.f64[ST_PACKETS];
    if (f.afterPackets !== undefined) {
      if (packets < f.afterPackets) return;
    } else {
      const now = performance.now();
      if (this.t0 < 0) this.t0 = now;
      if (now - this.t0 < (f.afterMs as number)) return;
    }
    if (f.kind === 'exit' && !isMainThread) process.exit(FAULT_EXIT_CODE);
    throw new Error(`${this.port.name}: injected fault (${f.kind}) after ${packets} packets`);
  }
}

/** `port`, failing as `fault` says; the role's stats block gives the packet count. */
export function withFault(port: NetmapPort, fault: Fault, stats: RoleStats): NetmapPort {
  return new FaultyPort(port, checkFault(fault), stats);
}
