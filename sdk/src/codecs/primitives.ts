/**
 * Building blocks of the contract: closed objects, ids that are safe in AWS names, numbers with bounds,
 * timestamps. Each codec's `name` is what an error message says was expected.
 */
import * as t from "io-ts";

// ---------------------------------------------------------------------------------------------- objects

/**
 * An object with `required` and `optional` keys and no others. Unknown keys are reported (usually a typo in a
 * stack file: `idealRunrate`), not silently dropped; the decoded value holds only the declared keys.
 */
// eslint-disable-next-line @typescript-eslint/no-generated-empty-object-type -- no optional keys unless given
export function closed<R extends t.Props, O extends t.Props = Record<never, never>>(
  name: string,
  required: R,
  optional?: O,
): t.Type<t.TypeOfProps<R> & Partial<t.TypeOfProps<O>>, unknown> {
  const opt = (optional ?? {}) as O;
  const requiredCodec = t.type(required);
  const optionalCodec = t.partial(opt);
  const known = new Set([...Object.keys(required), ...Object.keys(opt)]);
  const allowed = [...known].join(", ");
  type A = t.TypeOfProps<R> & Partial<t.TypeOfProps<O>>;
  return new t.Type<A, unknown, unknown>(
    name,
    (u): u is A => requiredCodec.is(u) && optionalCodec.is(u) && Object.keys(u).every((k) => known.has(k)),
    (u, c) => {
      if (typeof u !== "object" || u === null || Array.isArray(u)) return t.failure(u, c, `an object (${name})`);
      const record = u as Record<string, unknown>;
      const errors: t.ValidationError[] = [];
      for (const key of Object.keys(record)) {
        if (!known.has(key)) {
          errors.push({
            value: record[key],
            context: [...c, { key, type: t.never, actual: record[key] }],
            message: `no key "${key}" here (allowed: ${allowed})`,
          });
        }
      }
      const req = requiredCodec.validate(u, c);
      const part = optionalCodec.validate(u, c);
      if (req._tag === "Left") errors.push(...req.left);
      if (part._tag === "Left") errors.push(...part.left);
      if (errors.length > 0 || req._tag === "Left" || part._tag === "Left") return t.failures(errors);
      const out: Record<string, unknown> = { ...req.right };
      for (const [key, value] of Object.entries(part.right)) if (value !== undefined) out[key] = value;
      return t.success(out as A);
    },
    (a) => a,
  );
}

// ---------------------------------------------------------------------------------------------- strings

/** A string matching `pattern`; `expected` is what an error message says. */
export function matching(expected: string, pattern: RegExp): t.Type<string, string> {
  return refinedString<string>(expected, (s) => pattern.test(s));
}

/** A non-empty string of at most `max` characters with no leading or trailing white space. */
export function text(max: number): t.Type<string, string> {
  return refinedString<string>(
    `a non-empty text of at most ${max} characters, without leading or trailing spaces`,
    (s) => s.length > 0 && s.length <= max && s.trim() === s,
  );
}

/**
 * Ids of factory things (factories, lines, machines, gateways, machine types). Lower-case letters, digits and
 * single hyphens, starting with a letter: such an id is valid, unchanged, in thing names, IoT policy names,
 * MQTT topic levels, S3 keys and bucket names, SiteWise aliases and (with `-` as `_`) topic rule names.
 */
const ID_PATTERN = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

/** A string accepted by `ok`, typed as `A`; `expected` is what an error message says. */
export function refinedString<A extends string>(expected: string, ok: (s: string) => boolean): t.Type<A, string> {
  const is = (u: unknown): u is A => typeof u === "string" && ok(u);
  return new t.Type<A, string, unknown>(expected, is, (u, c) => (is(u) ? t.success(u) : t.failure(u, c)), t.identity);
}

/** An unbranded id (same rules as the branded ones), e.g. for shifts and alert rules. */
export function plainId(what: string, maxLength: number): t.Type<string, string> {
  return refinedString<string>(
    `a ${what} id (lower-case letters, digits and single hyphens, starting with a letter, at most ${maxLength} characters)`,
    (s) => s.length <= maxLength && ID_PATTERN.test(s),
  );
}

function idCodec<B>(what: string, maxLength: number): t.Type<t.Branded<string, B>, string> {
  // Same check as plainId; the brand exists only in the type.
  return plainId(what, maxLength) as unknown as t.Type<t.Branded<string, B>, string>;
}

/** Brand of {@link FactoryId}. */
export interface FactoryIdBrand {
  readonly FactoryId: unique symbol;
}
/** Id of a factory, e.g. `factory-a`; the prefix of every account-scoped name of its stack. */
export const FactoryId = idCodec<FactoryIdBrand>("factory", 16);
export type FactoryId = t.TypeOf<typeof FactoryId>;

/** Brand of {@link LineId}. */
export interface LineIdBrand {
  readonly LineId: unique symbol;
}
/** Id of a production line, unique within its factory, e.g. `press-line-1`. */
export const LineId = idCodec<LineIdBrand>("line", 24);
export type LineId = t.TypeOf<typeof LineId>;

/** Brand of {@link MachineId}. */
export interface MachineIdBrand {
  readonly MachineId: unique symbol;
}
/** Id of a machine, unique within its factory, e.g. `press-07`. */
export const MachineId = idCodec<MachineIdBrand>("machine", 32);
export type MachineId = t.TypeOf<typeof MachineId>;

/** Brand of {@link GatewayId}. */
export interface GatewayIdBrand {
  readonly GatewayId: unique symbol;
}
/** Id of an edge gateway, unique within its factory, e.g. `gw-press`. */
export const GatewayId = idCodec<GatewayIdBrand>("gateway", 24);
export type GatewayId = t.TypeOf<typeof GatewayId>;

/** Brand of {@link MachineTypeId}. */
export interface MachineTypeIdBrand {
  readonly MachineTypeId: unique symbol;
}
/** Id of a machine type (one SiteWise asset model per type), e.g. `servo-press`. */
export const MachineTypeId = idCodec<MachineTypeIdBrand>("machine type", 32);
export type MachineTypeId = t.TypeOf<typeof MachineTypeId>;

/** Brand of {@link TagName}. */
export interface TagNameBrand {
  readonly TagName: unique symbol;
}
/**
 * Name of a telemetry tag of a machine type, in lowerCamelCase (`spindleTemperature`): used unchanged as the
 * Timestream measure name and the SiteWise measurement name.
 */
export const TagName = refinedString<t.Branded<string, TagNameBrand>>(
  "a tag name (lowerCamelCase letters and digits, starting with a letter, at most 32 characters)",
  (s) => /^[a-z][a-zA-Z0-9]{0,31}$/.test(s),
);
export type TagName = t.TypeOf<typeof TagName>;

// ---------------------------------------------------------------------------------------------- numbers

/** A number (not NaN, not infinite) accepted by `ok`. */
export function refinedNumber(expected: string, ok: (n: number) => boolean): t.Type<number, number> {
  const is = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u) && ok(u);
  return new t.Type<number, number, unknown>(expected, is, (u, c) => (is(u) ? t.success(u) : t.failure(u, c)), t.identity);
}

/** A finite number. */
export const FiniteNumber = refinedNumber("a finite number", () => true);
/** A number greater than zero. */
export const PositiveNumber = refinedNumber("a number greater than 0", (n) => n > 0);
/** A whole number from 0 up to 2^53 - 1. */
export const NonNegativeInteger = refinedNumber("a whole number >= 0", (n) => Number.isSafeInteger(n) && n >= 0);

/** A whole number from `min` to `max`, both included. */
export function integerIn(min: number, max: number): t.Type<number, number> {
  return refinedNumber(`a whole number from ${min} to ${max}`, (n) => Number.isInteger(n) && n >= min && n <= max);
}

/**
 * A point in time as whole milliseconds since the Unix epoch (UTC), between 2000-01-01 and 2100-01-01: every
 * timestamp of the contract has this form, so no time zone or string parsing ever enters a comparison.
 */
export const EpochMillis = refinedNumber(
  "a time in whole milliseconds since 1970-01-01T00:00:00Z, between the years 2000 and 2100",
  (n) => Number.isInteger(n) && n >= 946_684_800_000 && n < 4_102_444_800_000,
);

// ---------------------------------------------------------------------------------------------- checks

/**
 * `codec` with checks that span several of its fields (uniqueness, references, ordering). `checks` runs only on
 * a value that passed `codec` and returns one error per broken rule (built with `failureAt`), none when all hold.
 */
export function withChecks<A, O>(
  codec: t.Type<A, O>,
  checks: (value: A, context: t.Context) => t.ValidationError[],
): t.Type<A, O> {
  return new t.Type<A, O, unknown>(
    codec.name,
    (u): u is A => codec.is(u) && checks(u, []).length === 0,
    (u, c) => {
      const result = codec.validate(u, c);
      if (result._tag === "Left") return result;
      const errors = checks(result.right, c);
      return errors.length > 0 ? t.failures(errors) : result;
    },
    codec.encode,
  );
}

/** One of the given strings. */
export function oneOf<K extends string>(expected: string, values: readonly K[]): t.Type<K, K> {
  const set = new Set<string>(values);
  return refinedString<K>(`${expected} (one of ${values.map((v) => JSON.stringify(v)).join(", ")})`, (s) =>
    set.has(s),
  ) as unknown as t.Type<K, K>;
}
