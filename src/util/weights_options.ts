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

/** Which state dict of a PyTorch checkpoint was loaded (reported through `onCheckpoint` and `LoadResult.checkpoint`). */
export interface CheckpointInfo {
  format: 'zip' | 'legacy';
  /** The top-level key the state dict came from ('model', 'state_dict', 'model_ema', …), or null for a bare state dict. */
  stateDictKey: string | null;
  /** Every top-level key that holds a state dict (e.g. 'model' and 'model_ema'). */
  candidates: string[];
  /** A prefix removed from every key ('module.' of DistributedDataParallel), or null. */
  strippedPrefix: string | null;
  /** Entries of the state dict that are not tensors (left out). */
  skipped: string[];
}

/** How weights are read: progress of hub downloads, offline (cache only) mode, which state dict of a checkpoint. */
export interface ReadWeightsOptions {
  onProgress?: (e: WeightsProgress) => void;
  /** Use the download cache only (default: the VISIONMIX_OFFLINE / HF_HUB_OFFLINE environment variables). */
  offline?: boolean;
  /**
   * PyTorch checkpoints: the top-level key of the state dict to load ('model_ema'). Default: the
   * first of 'model', 'state_dict', 'model_ema', 'state_dict_ema', 'module' present, else a bare dict.
   */
  weightsKey?: string;
  /** PyTorch checkpoints: told which state dict was loaded. */
  onCheckpoint?: (info: CheckpointInfo) => void;
}
