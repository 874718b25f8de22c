/**
 * Ctrl-C (SIGINT) and SIGTERM during a training job: the first one asks the job to stop after the
 * step in flight and to write a checkpoint, so that even an interrupted first epoch can be resumed;
 * a second one stops at once (the last checkpoint written is still intact).
 */
import { InterruptedError } from '../errors.js';
import type { ProgressStream } from './progress.js';

const EXIT_CODE = { SIGINT: 130, SIGTERM: 143 } as const;
type Signal = keyof typeof EXIT_CODE;

/**
 * Run `job` with an AbortSignal that the first SIGINT/SIGTERM aborts. When the job then throws
 * InterruptedError, say how to resume and return the conventional exit code (128 + signal number).
 */
export async function withInterrupts(stderr: ProgressStream, resumeHint: string, job: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  let received: Signal | undefined;
  const handler = (sig: Signal) => {
    if (received) process.exit(EXIT_CODE[sig]); // second signal: stop now
    received = sig;
    stderr.write(`\n${sig}: finishing the current step and writing a checkpoint (again to stop at once)\n`);
    controller.abort();
  };
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await job(controller.signal);
  } catch (err) {
    if (!(err instanceof InterruptedError)) throw err;
    stderr.write(`stopped: ${err.message}. Continue with: ${resumeHint}\n`);
    return EXIT_CODE[received ?? 'SIGINT'];
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
