/**
 * The worker entry of pipeline threads (src/pipeline/): piscina runs one long task per
 * thread, a pipeline node's worker, which stops when its inputs end (never by abort).
 * The pipeline benchmark's baseline roles (postMessage, ringbuf.js) run here too.
 */
import '../src/node-platform.js';
import { type PipelineBenchTask, runPipelineBenchRole } from '../bench/pipeline-roles.js';
import { runThread, type ThreadResult, type ThreadTask } from '../src/pipeline/worker.js';

export default function pipelineThread(task: ThreadTask | PipelineBenchTask): Promise<ThreadResult | unknown> {
  if (task.kind === 'pipeline') return runThread(task);
  return runPipelineBenchRole(task);
}
