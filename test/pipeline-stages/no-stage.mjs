// Test module: exports no stage.
export const notAStage = 1;
export function batch() {}
