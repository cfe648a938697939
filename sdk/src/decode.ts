import * as t from "io-ts";
import { ContractError, type ContractIssue } from "./errors";

/** Result of {@link check}: the decoded value, or every issue found. */
export type CheckResult<A> =
  | { readonly ok: true; readonly value: A }
  | { readonly ok: false; readonly issues: readonly ContractIssue[] };

/**
 * Check `input` against `codec` and return the decoded value, or throw a {@link ContractError} whose issues
 * name the path of each offending field, the value received there and what was expected.
 *
 * @example
 * ```ts
 * import { decode, TelemetryBatch } from "@smart-factory/sdk";
 * const batch = decode(TelemetryBatch, JSON.parse(text), "telemetry batch");
 * ```
 */
export function decode<C extends t.Mixed>(codec: C, input: unknown, subject: string = codec.name): t.TypeOf<C> {
  const result = check(codec, input);
  if (!result.ok) throw new ContractError(subject, result.issues);
  return result.value;
}

/** Like {@link decode}, but returns the issues instead of throwing. */
export function check<C extends t.Mixed>(codec: C, input: unknown): CheckResult<t.TypeOf<C>> {
  const result = codec.decode(input);
  if (result._tag === "Right") return { ok: true, value: result.right as t.TypeOf<C> };
  return { ok: false, issues: toIssues(result.left) };
}

/**
 * Turn io-ts errors into issues with readable paths. A union reports one error per member at the same path;
 * those are merged into one issue ("expected A or B").
 */
export function toIssues(errors: t.Errors): ContractIssue[] {
  const byPath = new Map<string, { segments: (string | number)[]; value: unknown; expected: string[] }>();
  for (const error of errors) {
    const segments = pathOf(error.context);
    const path = formatPath(segments);
    const expected = error.message ?? expectedOf(error.context);
    const entry = byPath.get(path);
    if (entry === undefined) {
      byPath.set(path, { segments, value: error.value, expected: [expected] });
    } else if (!entry.expected.includes(expected)) {
      entry.expected.push(expected);
    }
  }
  return [...byPath.entries()].map(([path, e]) => ({
    segments: e.segments,
    path,
    value: e.value,
    expected: e.expected.join(" or "),
  }));
}

/** Path segments of a context, leaving out the keys io-ts adds for members of unions and intersections. */
function pathOf(context: t.Context): (string | number)[] {
  const segments: (string | number)[] = [];
  for (let i = 1; i < context.length; i++) {
    const parent = context[i - 1]?.type as { _tag?: string } | undefined;
    if (parent?._tag === "UnionType" || parent?._tag === "IntersectionType") continue;
    const key = context[i]?.key ?? "";
    segments.push(/^\d+$/.test(key) ? Number(key) : key);
  }
  return segments;
}

/** `lines[1].machines[0]["odd key"]`. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(s)) out += out === "" ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

function expectedOf(context: t.Context): string {
  return context[context.length - 1]?.type.name ?? "a valid value";
}

/**
 * A failure at a path below the current context, for checks that span several fields (unique ids,
 * references between sections). `segments` continue the path of `context`.
 */
export function failureAt(
  context: t.Context,
  segments: readonly (string | number)[],
  value: unknown,
  expected: string,
): t.ValidationError {
  const extra: t.ContextEntry[] = segments.map((s) => ({ key: String(s), type: t.unknown, actual: value }));
  return { value, context: [...context, ...extra], message: expected };
}
