export * from './geometry.js';
export * from './layout.js';
export * from './lock.js';
export * from './pool.js';
export * from './region.js';
export * from './views.js';
