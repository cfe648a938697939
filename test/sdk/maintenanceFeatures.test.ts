import { strict as assert } from "node:assert";
import {
  addToStatistics,
  DERIVED_COLUMNS,
  emptyStatistics,
  FEATURE_STATISTICS,
  featureColumns,
  featureRow,
  featureTags,
  featureVector,
  machineTypeColumn,
  SAMPLES_COLUMN,
  statisticOf,
  trainingColumns,
  type RunningStatistics,
} from "@smart-factory/sdk";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";

function statisticsOf(values: readonly number[]): RunningStatistics {
  const s = emptyStatistics();
  for (const v of values) addToStatistics(s, v);
  return s;
}

describe("sdk: the predictive-maintenance feature vector", () => {
  const config = loadFactoryConfigFromStack("factory-a");

  it("has one column per feature tag and statistic, the sample count, the derived columns and the machine type one-hot, in that order", () => {
    const stats = (tag: string): string[] => FEATURE_STATISTICS.map((s) => `${tag}_${s}`);
    assert.deepEqual(trainingColumns(config), [
      ...stats("motorTemperature"),
      ...stats("vibration"),
      ...stats("spindleTemperature"),
      ...stats("coolantTemperature"),
      SAMPLES_COLUMN,
      ...DERIVED_COLUMNS,
      "type_servo_press",
      "type_cnc_mill",
    ]);
    assert.deepEqual(DERIVED_COLUMNS, ["fault_seconds", "fault_entries", "bad_readings"]);
    assert.equal(machineTypeColumn("servo-press"), "type_servo_press");
    assert.deepEqual(featureColumns(featureTags(config)), trainingColumns(config).slice(0, 17));
    const many = Array.from({ length: 64 }, (_, i) => ({ name: `t${i}`, quantity: "temperature" as const, unit: "degC", machineTypes: ["x"] }));
    assert.throws(() => featureColumns(many), /257 measures per features record: Timestream allows at most 256/);
  });

  it("computes the statistics as Timestream does: the mean, the sample standard deviation (none of one value), the extremes; nothing of no value", () => {
    const s = statisticsOf([2, 4, 4, 4, 5, 5, 7, 9]);
    assert.equal(statisticOf(s, "avg"), 5);
    assert.ok(Math.abs((statisticOf(s, "stddev") ?? NaN) - Math.sqrt(32 / 7)) < 1e-12);
    assert.deepEqual([statisticOf(s, "min"), statisticOf(s, "max")], [2, 9]);
    const one = statisticsOf([-3.5]);
    assert.deepEqual(FEATURE_STATISTICS.map((x) => statisticOf(one, x)), [-3.5, null, -3.5, -3.5]);
    assert.deepEqual(FEATURE_STATISTICS.map((x) => statisticOf(emptyStatistics(), x)), [null, null, null, null]);
    assert.deepEqual(FEATURE_STATISTICS.map((x) => statisticOf(undefined, x)), [null, null, null, null]);
    // large values with a small spread: no precision lost to cancellation (a raw sum of squares would be off by far)
    const large = statisticsOf([1e9 + 1, 1e9 + 2, 1e9 + 3]);
    assert.equal(statisticOf(large, "stddev"), 1);
    assert.equal(statisticOf(statisticsOf([293.15, 293.15, 293.15]), "stddev"), 0);
  });

  it("builds a machine's row in column order, missing values as empty fields as the training CSV writes them", () => {
    const values = featureVector(config, {
      machineType: "servo-press",
      statistics: { motorTemperature: statisticsOf([70, 72, 74]), vibration: statisticsOf([0.0045]) },
      samples: 3,
      faultSeconds: 80.5,
      faultEntries: 1,
      badReadings: 2,
    });
    assert.equal(values.length, trainingColumns(config).length);
    assert.deepEqual(values, [72, 2, 70, 74, 0.0045, null, 0.0045, 0.0045, null, null, null, null, null, null, null, null, 3, 80.5, 1, 2, 1, 0]);
    assert.equal(featureRow(values), "72,2,70,74,0.0045,,0.0045,0.0045,,,,,,,,,3,80.5,1,2,1,0");
    assert.equal(featureRow([null, Number.NaN, -0, 1e-7]), ",,0,1e-7");
    assert.throws(() => featureVector(config, { machineType: "loom", statistics: {}, samples: 1, faultSeconds: 0, faultEntries: 0, badReadings: 0 }), /machine type "loom" is not a machine type of factory factory-a/);
  });
});
