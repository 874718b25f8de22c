/**
 * How weights are read (hub download progress, offline mode): named by the model API (models/),
 * the platform hook that reads them (runtime/) and the engine that connects the two (tasks/), so
 * it lives with the root modules that every layer may import.
 */
/** Progress of fetching weights from the hub: initiate → download → progress … → done (as transformers.js). */
export interface WeightsProgress {
  status: 'initiate' | 'download' | 'progress' | 'done';
  repo?: string;
  file: string;
  loaded?: number;
  total?: number;
  /** Percent. */
  progress?: number;
  /** Where the file is (done). */
  path?: string;
  /** Served from the cache without downloading (done). */
  cached?: boolean;
}

/** How weights are read: progress of hub downloads, and offline (cache only) mode. */
export interface ReadWeightsOptions {
  onProgress?: (e: WeightsProgress) => void;
  /** Use the download cache only (default: the VISIONMIX_OFFLINE / HF_HUB_OFFLINE environment variables). */
  offline?: boolean;
}
