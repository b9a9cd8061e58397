// Test stage: its create() fails.
import { defineStage } from 'sabnetmap';

export default defineStage(() => {
  throw new Error('cannot start');
});
