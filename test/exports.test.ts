import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';

describe('the package entry point', () => {
  it('exports the API the README documents', () => {
    for (const name of [
      'Netmap',
      'attachPort',
      'Port',
      'NetmapRing',
      'POLLIN',
      'POLLOUT',
      'ringNext',
      'ringSpace',
      'ringEmpty',
      'NetmapError',
      'setLogLevel',
      'runPktGen',
      'runPktGenPair',
      'Control',
      'valeCounters',
      'NS_MOREFRAG',
      'NS_BUF_CHANGED',
      'runChain',
      'runBridge',
      'Bridge',
      'sharesMemory',
    ]) {
      expect(api, name).toHaveProperty(name);
    }
    expect(api.POLLIN).not.toBe(api.POLLOUT);
  });
});
