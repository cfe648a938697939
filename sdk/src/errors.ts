/**
 * Errors thrown by the SDK. Every error names what was wrong and where, so that a caller can show it to a
 * person as it is.
 */

/** Base class of every error the SDK throws; `name` is the subclass name. */
export class SmartFactoryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One thing wrong with a value checked against a contract. */
export interface ContractIssue {
  /** Path of the offending field, as segments (`["lines", 1, "machines", 0, "idealRunRate"]`). */
  readonly segments: readonly (string | number)[];
  /** The same path for people: `lines[1].machines[0].idealRunRate` (empty for the value itself). */
  readonly path: string;
  /** The value that was received at that path (`undefined` when the field is missing). */
  readonly value: unknown;
  /** What was expected there, in words. */
  readonly expected: string;
}

/** A value does not satisfy a contract (a codec of this SDK). */
export class ContractError extends SmartFactoryError {
  constructor(
    /** What was being decoded, e.g. "telemetry batch" or "stack config". */
    readonly subject: string,
    readonly issues: readonly ContractIssue[],
  ) {
    super(`invalid ${subject}: ${formatIssues(issues)}`);
  }
}

/** A unit is unknown, or two units measure different quantities. */
export class UnitError extends SmartFactoryError {}

/** Bytes that are not a valid wire-format message, or a value the wire format cannot carry. */
export class WireFormatError extends SmartFactoryError {}

/** A name that cannot be built within the rules of the AWS resource it names. */
export class NameError extends SmartFactoryError {}

/**
 * A query argument is invalid (an unknown machine or tag, an unbounded or reversed time range, a hostile
 * identifier): `field` names the argument, `value` is what was given. Nothing was sent to AWS.
 */
export class QueryValidationError extends SmartFactoryError {
  constructor(
    /** Path of the offending argument, e.g. `range.to` or `machineIds[2]`. */
    readonly field: string,
    /** The value given. */
    readonly value: unknown,
    /** What was expected, in words. */
    readonly expected: string,
  ) {
    super(`${field}: expected ${expected}, got ${describeValue(value)}`);
  }
}

/** Something asked for does not exist: an asset, a property, an alias, a model. */
export class NotFoundError extends SmartFactoryError {
  constructor(
    /** What kind of thing: "asset", "property", "alias", "asset model". */
    readonly kind: string,
    /** How it was asked for (id, alias or name). */
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind} ${JSON.stringify(key)} not found`, options);
  }
}

/** AWS kept throttling after the AWS SDK's own retries were exhausted; `cause` is the last AWS error. */
export class ThrottledError extends SmartFactoryError {
  constructor(
    /** The AWS operation, e.g. "BatchGetAssetPropertyValue". */
    readonly operation: string,
    /** Attempts the AWS SDK made. */
    readonly attempts: number | undefined,
    options: { cause: unknown },
  ) {
    super(`${operation} was throttled${attempts === undefined ? "" : ` after ${attempts} attempts`}: slow down or raise the quota`, options);
  }
}

/** AWS answered with an error that is not the caller's (a 5xx, an unexpected response); `cause` is the AWS error. */
export class BackendError extends SmartFactoryError {
  constructor(
    /** The AWS operation. */
    readonly operation: string,
    message: string,
    options: { cause: unknown },
  ) {
    super(`${operation} failed: ${message}`, options);
  }
}

/** A query was cancelled by its `AbortSignal`. */
export class QueryCancelledError extends SmartFactoryError {}

const THROTTLING = new Set(["ThrottlingException", "TooManyRequestsException", "LimitExceededException", "RequestLimitExceeded", "ProvisionedThroughputExceededException"]);

/**
 * The SDK's error for an error the AWS SDK threw from `operation`: throttling (after the AWS SDK's retries),
 * not found, validation, or a backend failure; always with the AWS error as `cause`.
 */
export function fromAwsError(operation: string, error: unknown): SmartFactoryError {
  if (error instanceof SmartFactoryError) return error;
  const e = error as { name?: unknown; message?: unknown; $metadata?: { attempts?: number; httpStatusCode?: number } } | null;
  const name = typeof e?.name === "string" ? e.name : "Error";
  const message = typeof e?.message === "string" ? e.message : String(error);
  if (THROTTLING.has(name)) return new ThrottledError(operation, e?.$metadata?.attempts, { cause: error });
  if (name === "ResourceNotFoundException") return new NotFoundError("resource", message, { cause: error });
  if (name === "AbortError") return new QueryCancelledError(`${operation} was cancelled`, { cause: error });
  if (name === "ValidationException" || name === "InvalidRequestException") return new BackendError(operation, `AWS rejected the request (${name}): ${message}`, { cause: error });
  return new BackendError(operation, `${name}: ${message}`, { cause: error });
}

const MAX_LISTED = 10;

/** `path: expected X, got Y` for each issue, the first ten of them, `; `-separated. */
export function formatIssues(issues: readonly ContractIssue[]): string {
  const shown = issues.slice(0, MAX_LISTED).map(formatIssue);
  const more = issues.length > MAX_LISTED ? [`and ${issues.length - MAX_LISTED} more`] : [];
  return [...shown, ...more].join("; ");
}

/** `lines[1].id: expected an id ..., got "Line 1"`. */
export function formatIssue(issue: ContractIssue): string {
  const where = issue.path === "" ? "value" : issue.path;
  return `${where}: expected ${issue.expected}, got ${describeValue(issue.value)}`;
}

/** A short, printable rendering of any received value. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing (missing)";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return value.toString();
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
