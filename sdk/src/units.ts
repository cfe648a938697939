/**
 * Units of measure: the closed set of units a PLC or sensor may report, the canonical (SI) unit each quantity
 * is stored in, and exact conversions between them. A unit that is not in the table, or a conversion between
 * different quantities, is an error, never a guess.
 */
import * as t from "io-ts";
import { UnitError } from "./errors";

/** The physical quantities the factories measure. */
export type Quantity =
  | "temperature"
  | "pressure"
  | "velocity"
  | "acceleration"
  | "frequency"
  | "volumeFlow"
  | "massFlow"
  | "power"
  | "energy"
  | "length"
  | "volume"
  | "mass"
  | "time"
  | "force"
  | "torque"
  | "current"
  | "voltage"
  | "ratio"
  | "count";

/**
 * How a unit maps to its quantity's canonical unit: `canonical = (value + offset) * numerator / denominator`.
 * Factors are the definitions (the inch is 0.0254 m, the pound 0.45359237 kg, the standard gravity
 * 9.80665 m/s²), kept as ratios of exact numbers so that each conversion rounds once.
 */
export interface UnitDefinition {
  readonly quantity: Quantity;
  readonly label: string;
  readonly numerator: number;
  readonly denominator: number;
  readonly offset: number;
}

function unit(quantity: Quantity, label: string, numerator = 1, denominator = 1, offset = 0): UnitDefinition {
  return { quantity, label, numerator, denominator, offset };
}

// Exact definitions the table is built from (NIST SP 811 / the 1959 international yard and pound).
const LBF_NEWTONS = 4.4482216152605; // 0.45359237 kg x 9.80665 m/s^2
const US_GALLON_M3 = 0.003785411784; // 231 in^3
const MECHANICAL_HP_W = 745.6998715822702; // 550 ft.lbf/s

/** Every unit the contract knows, by id. */
export const UNITS = {
  // temperature: canonical degree Celsius (SI derived unit)
  degC: unit("temperature", "degree Celsius"),
  K: unit("temperature", "kelvin", 1, 1, -273.15),
  degF: unit("temperature", "degree Fahrenheit", 5, 9, -32),
  // pressure: canonical pascal
  Pa: unit("pressure", "pascal"),
  hPa: unit("pressure", "hectopascal", 100),
  kPa: unit("pressure", "kilopascal", 1000),
  MPa: unit("pressure", "megapascal", 1_000_000),
  mbar: unit("pressure", "millibar", 100),
  bar: unit("pressure", "bar", 100_000),
  // lbf/in^2 = 4.4482216152605 N / 0.00064516 m^2, as a ratio of integers
  psi: unit("pressure", "pound-force per square inch", 44_482_216_152_605, 6_451_600_000),
  // velocity (linear speed, vibration velocity): canonical metre per second
  "m/s": unit("velocity", "metre per second"),
  "mm/s": unit("velocity", "millimetre per second", 1, 1000),
  "m/min": unit("velocity", "metre per minute", 1, 60),
  "km/h": unit("velocity", "kilometre per hour", 1000, 3600),
  "in/s": unit("velocity", "inch per second", 0.0254),
  "ft/min": unit("velocity", "foot per minute", 0.3048, 60),
  // acceleration (vibration): canonical metre per second squared
  "m/s2": unit("acceleration", "metre per second squared"),
  "mm/s2": unit("acceleration", "millimetre per second squared", 1, 1000),
  gn: unit("acceleration", "standard gravity", 9.80665),
  // frequency and rotational speed: canonical hertz (revolutions or cycles per second)
  Hz: unit("frequency", "hertz"),
  kHz: unit("frequency", "kilohertz", 1000),
  rpm: unit("frequency", "revolution per minute", 1, 60),
  "rad/s": unit("frequency", "radian per second", 1, 2 * Math.PI),
  // volume flow: canonical cubic metre per second
  "m3/s": unit("volumeFlow", "cubic metre per second"),
  "m3/h": unit("volumeFlow", "cubic metre per hour", 1, 3600),
  "L/s": unit("volumeFlow", "litre per second", 1, 1000),
  "L/min": unit("volumeFlow", "litre per minute", 1, 60_000),
  gpm: unit("volumeFlow", "US gallon per minute", US_GALLON_M3, 60),
  // mass flow: canonical kilogram per second
  "kg/s": unit("massFlow", "kilogram per second"),
  "kg/h": unit("massFlow", "kilogram per hour", 1, 3600),
  "t/h": unit("massFlow", "tonne per hour", 1000, 3600),
  "lb/h": unit("massFlow", "pound per hour", 0.45359237, 3600),
  // power: canonical watt
  W: unit("power", "watt"),
  kW: unit("power", "kilowatt", 1000),
  MW: unit("power", "megawatt", 1_000_000),
  hp: unit("power", "mechanical horsepower", MECHANICAL_HP_W),
  // energy: canonical joule
  J: unit("energy", "joule"),
  kJ: unit("energy", "kilojoule", 1000),
  MJ: unit("energy", "megajoule", 1_000_000),
  Wh: unit("energy", "watt hour", 3600),
  kWh: unit("energy", "kilowatt hour", 3_600_000),
  MWh: unit("energy", "megawatt hour", 3_600_000_000),
  // length: canonical metre
  m: unit("length", "metre"),
  cm: unit("length", "centimetre", 1, 100),
  mm: unit("length", "millimetre", 1, 1000),
  um: unit("length", "micrometre", 1, 1_000_000),
  km: unit("length", "kilometre", 1000),
  in: unit("length", "inch", 0.0254),
  ft: unit("length", "foot", 0.3048),
  mil: unit("length", "thousandth of an inch", 0.0000254),
  // volume: canonical cubic metre
  m3: unit("volume", "cubic metre"),
  L: unit("volume", "litre", 1, 1000),
  gal: unit("volume", "US gallon", US_GALLON_M3),
  // mass: canonical kilogram
  kg: unit("mass", "kilogram"),
  g: unit("mass", "gram", 1, 1000),
  t: unit("mass", "tonne", 1000),
  lb: unit("mass", "pound", 0.45359237),
  oz: unit("mass", "ounce", 0.028349523125),
  // time: canonical second
  s: unit("time", "second"),
  ms: unit("time", "millisecond", 1, 1000),
  min: unit("time", "minute", 60),
  h: unit("time", "hour", 3600),
  // force: canonical newton
  N: unit("force", "newton"),
  kN: unit("force", "kilonewton", 1000),
  lbf: unit("force", "pound-force", LBF_NEWTONS),
  // torque: canonical newton metre
  "N.m": unit("torque", "newton metre"),
  "lbf.ft": unit("torque", "pound-force foot", LBF_NEWTONS * 0.3048),
  // electrical: canonical ampere and volt
  A: unit("current", "ampere"),
  mA: unit("current", "milliampere", 1, 1000),
  V: unit("voltage", "volt"),
  mV: unit("voltage", "millivolt", 1, 1000),
  kV: unit("voltage", "kilovolt", 1000),
  // dimensionless: canonical ratio 1
  "1": unit("ratio", "ratio"),
  "%": unit("ratio", "percent", 1, 100),
  ppm: unit("ratio", "part per million", 1, 1_000_000),
  // counts of things (parts, events)
  count: unit("count", "count"),
} as const satisfies Record<string, UnitDefinition>;

/** Id of a unit of {@link UNITS}, e.g. `"degF"`, `"psi"`, `"mm/s"`. */
export type UnitId = keyof typeof UNITS;

/** Codec of {@link UnitId}: a string naming a unit of the table. */
export const UnitId = new t.Type<UnitId, string, unknown>(
  "a known unit id (see UNITS in the SDK, e.g. degC, degF, psi, bar, mm/s, rpm, kW)",
  (u): u is UnitId => typeof u === "string" && isUnitId(u),
  (u, c) => (typeof u === "string" && isUnitId(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

/** The canonical (SI) unit each quantity is stored in. */
export const CANONICAL_UNITS: Readonly<Record<Quantity, UnitId>> = {
  temperature: "degC",
  pressure: "Pa",
  velocity: "m/s",
  acceleration: "m/s2",
  frequency: "Hz",
  volumeFlow: "m3/s",
  massFlow: "kg/s",
  power: "W",
  energy: "J",
  length: "m",
  volume: "m3",
  mass: "kg",
  time: "s",
  force: "N",
  torque: "N.m",
  current: "A",
  voltage: "V",
  ratio: "1",
  count: "count",
};

/** Whether `id` names a unit of the table. */
export function isUnitId(id: string): id is UnitId {
  return Object.prototype.hasOwnProperty.call(UNITS, id);
}

function definition(id: string): UnitDefinition {
  if (!isUnitId(id)) throw new UnitError(`unknown unit ${JSON.stringify(id)}: not in the SDK's unit table (UNITS)`);
  return UNITS[id];
}

/** The quantity a unit measures; throws {@link UnitError} for an unknown unit. */
export function quantityOf(unitId: string): Quantity {
  return definition(unitId).quantity;
}

/** The canonical unit of the quantity `unitId` measures. */
export function canonicalUnitOf(unitId: string): UnitId {
  return CANONICAL_UNITS[quantityOf(unitId)];
}

/**
 * A function converting values from one unit to another of the same quantity. Build it once per tag and reuse
 * it: the check of the pair happens here, not per value.
 *
 * @throws UnitError when a unit is unknown or the two measure different quantities.
 * @example
 * ```ts
 * const toCelsius = converter("degF", "degC");
 * toCelsius(212); // 100
 * ```
 */
export function converter(from: string, to: string): (value: number) => number {
  const a = definition(from);
  const b = definition(to);
  if (a.quantity !== b.quantity) {
    throw new UnitError(
      `cannot convert ${JSON.stringify(from)} (${a.quantity}) to ${JSON.stringify(to)} (${b.quantity}): different quantities`,
    );
  }
  if (from === to) return (value) => value;
  if (a.offset === 0 && b.offset === 0) {
    // One multiplication and one division: value * (na * db) / (da * nb), exact integers where the table has them.
    const num = a.numerator * b.denominator;
    const den = a.denominator * b.numerator;
    return (value) => (value * num) / den;
  }
  return (value) => (((value + a.offset) * a.numerator) / a.denominator) * b.denominator / b.numerator - b.offset;
}

/** Convert one value; see {@link converter}. */
export function convert(value: number, from: string, to: string): number {
  return converter(from, to)(value);
}

/** Convert a value to the canonical unit of its quantity. */
export function toCanonical(value: number, unitId: string): { value: number; unit: UnitId } {
  const unit = canonicalUnitOf(unitId);
  return { value: convert(value, unitId, unit), unit };
}
