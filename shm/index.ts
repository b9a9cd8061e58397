/**
 * The package's `sabnetmap/shm` entry: the shared-memory layer under the library (region
 * geometry and layout, the shared lock, the buffer pool, regions and their views).
 *
 * @module sabnetmap/shm
 */
export * from './geometry.js';
export * from './layout.js';
export * from './lock.js';
export * from './pool.js';
export * from './region.js';
export * from './views.js';
