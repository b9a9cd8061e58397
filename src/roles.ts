/**
 * Runs worker roles on piscina: one pool sized to the roles (minThreads = maxThreads,
 * no idle timeout) so each role gets its own thread for its whole life.
 */
import type { TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { workerFile } from './paths.js';
import { transferList as portsIn } from './transfer.js';

export class RolePool {
  private readonly pool: Piscina;
  constructor(threads: number) {
    this.pool = new Piscina({
      filename: workerFile('role'),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      // Roles block in Atomics.wait themselves; piscina's own waiting is not needed.
      atomics: 'disabled',
    });
  }
  /**
   * `transferList`: objects in `task` to move, not clone (e.g. a MessagePort for a role
   * pair); the MessagePorts of VALE descriptors in the task are added here.
   */
  run<T>(task: object, transferList: TransferListItem[] = []): Promise<T> {
    const all = [...new Set([...transferList, ...(portsIn(task) as unknown as TransferListItem[])])];
    return this.pool.run(task, all.length > 0 ? { transferList: all } : undefined) as Promise<T>;
  }
  get threads(): number {
    return this.pool.threads.length;
  }
  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
