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
