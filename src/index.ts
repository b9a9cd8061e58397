export * from '../shm/layout.js';
export { RegionViews } from '../shm/views.js';
export { type CountersByName, countersOf, sumCounters } from './counters.js';
export { NetmapError, type NetmapErrorCode } from './errors.js';
export { LOG_LEVELS, type LogLevel, setLogLevel } from './log.js';
export { type ParsedName, parsePortName } from './names.js';
export { attachPort, checkPortOptions, Netmap, type PortOptions } from './netmap.js';
export { POLLIN, POLLOUT, Port, type PortDescriptor, type RingCounters } from './port.js';
export { NetmapRing, ringEmpty, ringNext, ringSpace } from './ring.js';
