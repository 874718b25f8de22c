/**
 * What the host machine offers, for up-front checks of a job's size (a training input size that
 * would need more memory than the machine has is refused before anything is written). Node-only
 * (`node:os`), hence in io/: tasks/ asks here, and a browser entry can bring its own answer.
 */
import { totalmem } from 'node:os';

/** Physical memory of the machine in bytes. */
export function hostMemoryBytes(): number {
  return totalmem();
}

