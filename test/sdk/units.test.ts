import { strict as assert } from "node:assert";
import { CANONICAL_UNITS, canonicalUnitOf, convert, converter, quantityOf, toCanonical, UNITS, UnitError, type UnitId } from "@smart-factory/sdk";

/** Equal within `relative` of the larger magnitude (or `absolute` near zero). */
function near(actual: number, expected: number, relative = 1e-12, absolute = 1e-12): void {
  const tolerance = Math.max(absolute, relative * Math.max(Math.abs(actual), Math.abs(expected)));
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not ${expected}`);
}

describe("units", () => {
  const known: [number, UnitId, UnitId, number][] = [
    [212, "degF", "degC", 100],
    [32, "degF", "degC", 0],
    [-40, "degF", "degC", -40],
    [100, "degC", "degF", 212],
    [373.15, "K", "degC", 100],
    [0, "degC", "K", 273.15],
    [1, "psi", "Pa", 6894.757293168361],
    [100, "psi", "bar", 6.894757293168361],
    [1, "bar", "kPa", 100],
    [1013.25, "hPa", "Pa", 101325],
    [1, "in", "mm", 25.4],
    [1, "ft", "m", 0.3048],
    [1, "in/s", "mm/s", 25.4],
    [1, "gn", "m/s2", 9.80665],
    [60, "rpm", "Hz", 1],
    [2 * Math.PI, "rad/s", "rpm", 60],
    [1, "lb", "kg", 0.45359237],
    [16, "oz", "lb", 1],
    [1, "lbf", "N", 4.4482216152605],
    [1, "lbf.ft", "N.m", 1.3558179483314003],
    [1, "hp", "W", 745.6998715822702],
    [1, "kWh", "J", 3_600_000],
    [1, "gal", "L", 3.785411784],
    [1, "gpm", "L/min", 3.785411784],
    [3.6, "m3/h", "L/s", 1],
    [3.6, "t/h", "kg/s", 1],
    [90, "min", "h", 1.5],
    [1500, "mA", "A", 1.5],
    [45, "%", "1", 0.45],
    [1, "count", "count", 1],
  ];
  for (const [value, from, to, expected] of known) {
    it(`${value} ${from} = ${expected} ${to}`, () => { near(convert(value, from, to), expected); });
  }

  it("converts exactly where the factors are exact", () => {
    assert.equal(convert(212, "degF", "degC"), 100);
    assert.equal(convert(1, "in", "mm"), 25.4);
    assert.equal(convert(101325, "Pa", "bar"), 1.01325);
  });

  it("round-trips every unit through its canonical unit", () => {
    for (const unit of Object.keys(UNITS) as UnitId[]) {
      for (const value of [-273.15, -1, 0, 0.001, 1, 72.45, 1e6]) {
        const canonical = toCanonical(value, unit);
        near(convert(canonical.value, canonical.unit, unit), value, 1e-12, 1e-9);
      }
    }
  });

  it("has a canonical unit for every quantity, itself in the table with factor 1", () => {
    for (const [quantity, unit] of Object.entries(CANONICAL_UNITS)) {
      assert.equal(UNITS[unit].quantity, quantity);
      assert.equal(UNITS[unit].numerator / UNITS[unit].denominator, 1);
      assert.equal(UNITS[unit].offset, 0);
    }
    assert.equal(canonicalUnitOf("psi"), "Pa");
    assert.equal(canonicalUnitOf("degF"), "degC");
  });

  it("rejects unknown units, naming them", () => {
    assert.throws(() => convert(1, "celsius", "degC"), (e: unknown) => e instanceof UnitError && /unknown unit "celsius"/.test(e.message));
    assert.throws(() => quantityOf("PSI"), /unknown unit "PSI"/);
  });

  it("rejects conversions between different quantities, naming both", () => {
    assert.throws(() => converter("psi", "degC"), (e: unknown) => e instanceof UnitError && e.message === 'cannot convert "psi" (pressure) to "degC" (temperature): different quantities');
    assert.throws(() => convert(1, "count", "%"), /different quantities/);
  });
});
