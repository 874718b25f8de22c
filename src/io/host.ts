/**
 * What the host machine offers, for up-front checks of a job's size (a training input size that
 * would need more memory than the machine has is refused before anything is written). Node-only
 * (`node:os`), hence in io/: tasks/ asks here, and a browser entry can bring its own answer.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';

/** Physical memory of the machine in bytes. */
export function hostMemoryBytes(): number {
  return totalmem();
}


/**
 * The process's peak resident set since the last `resetPeakRss()` (Linux: VmHWM in
 * /proc/self/status), in bytes; null where the system does not report it.
 */
export function peakRssBytes(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Restart the peak-RSS watermark at the current RSS (Linux ≥ 4.0: writing 5 to clear_refs), so that
 * `peakRssBytes()` measures one job. Returns false where that is not possible.
 */
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
