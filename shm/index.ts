export * from './layout.js';
export * from './region.js';
export * from './views.js';
