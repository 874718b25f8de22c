/**
 * Typed errors. Every message names what is at fault (file, key, shape, option) so that a user can
 * act on it without reading a stack trace from deep inside ONNX Runtime.
 */

export class VisionmixError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A shape rule failed while tracing: names the op, the module path and the shapes. */
export class ShapeError extends VisionmixError {}

/** A state dict does not fit a model: lists missing, unexpected and mis-shaped keys. */
export class WeightsError extends VisionmixError {
  constructor(
    message: string,
    readonly missing: string[] = [],
    readonly unexpected: string[] = [],
    readonly misShaped: { key: string; expected: number[]; got: number[] }[] = [],
  ) {
    super(message);
  }
}

/**
 * Weights could not be fetched from the hub or a URL, or the download cache holds something unusable:
 * a value from outside (repo id, revision, file path, hash, commit) that is not safe as a cache path,
 * a redirect loop, a damaged cached file (the message names the path to delete). A WeightsError, so
 * code that handles weights that cannot be loaded handles these too.
 */
export class HubError extends WeightsError {}

/**
 * A PyTorch checkpoint (`torch.save` file) is broken or not one: no zip directory, no data.pkl, a
 * truncated pickle, a storage outside the file. Names the file.
 */
export class CheckpointError extends WeightsError {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}

/**
 * A checkpoint's pickle asks for something that could run code (a global such as `os.system` or
 * `builtins.eval`, or an opcode outside the set a state dict needs). Nothing from the file was run;
 * `global` / `opcode` name what was refused.
 */
export class UnsafePickleError extends CheckpointError {
  constructor(
    message: string,
    file: string,
    readonly global?: string,
    readonly opcode?: string,
  ) {
    super(message, file);
  }
}

/** A data file or data set is unreadable or malformed. */
export class DataError extends VisionmixError {}

/**
 * An image URL could not be fetched: the server's HTTP status (`status`, undefined when no response
 * came: DNS, connection, timeout) or a body over the size limit. A DataError, as an unreadable file is.
 */
export class FetchError extends DataError {
  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** A model config or an option is invalid (unknown model, lr <= 0, ...). */
export class ConfigError extends VisionmixError {}

/** A safetensors file violates the format; names the file and, where known, the tensor. */
export class SafetensorsError extends VisionmixError {
  constructor(
    message: string,
    readonly file: string,
    readonly tensor?: string,
  ) {
    super(message);
  }
}

/** ONNX Runtime refused or failed a graph; wraps its message with what we were running. */
export class RuntimeError extends VisionmixError {}

/** Training cannot go on (a non-finite loss, …); names the step. The last good checkpoint is kept. */
export class TrainingError extends VisionmixError {
  constructor(
    message: string,
    readonly step?: number,
  ) {
    super(message);
  }
}

/**
 * A computation produced non-finite numbers (NaN, ±Infinity) where a result was expected: model
 * outputs in eval/predict. Reported as an error, never as a result, since the weights are corrupt or
 * diverged.
 */
export class NumericalError extends VisionmixError {}

/** A job was stopped on request (Ctrl-C, SIGTERM) after saving what can be resumed. */
export class InterruptedError extends VisionmixError {
  constructor(
    message: string,
    readonly step?: number,
  ) {
    super(message);
  }
}
