// The typed errors, one class per class of sdpic.errors (Python), with the same hierarchy: a caller catches
// SdpicError for every error the decoder raises on purpose; anything else is a bug.

export class SdpicError extends Error {}
/** An input cannot be read, or has a size, mode or depth sdpic does not accept. */
export class InputImageError extends SdpicError {}
/** An image (or a file header) asks for more pixels than the configured limits allow. */
export class ImageTooLargeError extends InputImageError {}
/** An .sdpic byte stream is malformed: bad magic, version, field, length or checksum. */
export class FormatError extends SdpicError {}
/** An .sdpic byte stream ends before the data its header announces. */
export class TruncatedFileError extends FormatError {}
/** An .sdpic byte stream's CRC-32 does not match its contents (corruption). */
export class ChecksumError extends FormatError {}
/** An .sdpic byte stream was written by a format version this build cannot read. */
export class UnsupportedVersionError extends FormatError {}
/** A stream names a model id or weights hash that this installation does not have. */
export class ModelMismatchError extends SdpicError {}
/** A model name is not known, or its bundle lacks a requested part. */
export class UnknownModelError extends SdpicError {}
/** An output path exists and overwriting was not requested (or it is an input). */
export class OutputExistsError extends SdpicError {}
/** A parameter (thread count, strip size, option) is out of range. */
export class ParameterError extends SdpicError {}
/** A model bundle's files (manifest, tables, ONNX) are missing or unreadable. */
export class WeightsNotFoundError extends SdpicError {}
/** A model bundle holds content the decoder refuses (wrong format, sizes that disagree with its manifest). */
export class UnsafeWeightsError extends SdpicError {}

const CLASSES = {
  SdpicError, InputImageError, ImageTooLargeError, FormatError, TruncatedFileError, ChecksumError,
  UnsupportedVersionError, ModelMismatchError, UnknownModelError, OutputExistsError, ParameterError,
  WeightsNotFoundError, UnsafeWeightsError,
};
// Names survive minification: error.name is the Python class name ("FormatError", ...).
for (const [name, cls] of Object.entries(CLASSES)) {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
}
