"""Prepare the failure-risk training set of one factory.

The processing step of the factory's SageMaker pipeline (infra/components/predictiveMaintenance.ts) runs this in
SageMaker's scikit-learn image; it needs only the standard library and boto3. training-config.json, next to it, is
generated from the stack config (infra/lib/maintenance.ts, trainingConfig).

1. UNLOAD the hourly machine features, which the Timestream scheduled query writes, for the last TRAINING_DAYS, and
   the number of bad readings per machine and hour from the telemetry table (only the `<tag>_quality` columns that
   exist: Timestream creates a column with its first value, and naming a missing one fails the query).
2. Read each machine's state history from IoT SiteWise (its `state` property, by alias) and compute per hour the
   seconds in fault and the number of entries into fault (a state holds until the next value).
3. Label each machine-hour 1 when the machine is in fault at some time in the next HORIZON_HOURS hours, else 0
   (hours whose horizon reaches past the data are left out), and write the train and validation CSVs the built-in
   XGBoost reads: label first, no header, the columns of training-config.json in order, empty for missing. The
   last fifth of the hours is the validation set (a split in time: no future leaks into training).
"""

import csv
import io
import json
import os
from datetime import datetime, timedelta, timezone

import boto3

CODE_DIR = os.path.dirname(os.path.abspath(__file__))
OUTPUT_DIR = "/opt/ml/processing/output"
HOUR = timedelta(hours=1)


def setting(name):
    value = os.environ.get(name, "")
    if value == "" or "'" in value or '"' in value:
        raise SystemExit(f"environment variable {name} is missing or holds a quote: {value!r}")
    return value


def parse_time(text):
    """A Timestream timestamp ('2025-01-31 10:00:00.000000000') as an aware UTC datetime."""
    return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def query_rows(client, sql):
    """Every row of a query, as lists of scalar strings (None for NULL), and the column names."""
    rows, columns, token = [], [], None
    while True:
        page = client.query(QueryString=sql, **({"NextToken": token} if token else {}))
        columns = [c["Name"] for c in page["ColumnInfo"]]
        rows.extend([None if d.get("NullValue") else d.get("ScalarValue") for d in r["Data"]] for r in page["Rows"])
        token = page.get("NextToken")
        if not token:
            return columns, rows


def unload(client, s3, sql, destination, kms_key):
    """Run UNLOAD of `sql` into `destination` and return its rows as dicts (CSV with header)."""
    statement = (
        f"UNLOAD ({sql}) TO '{destination}' WITH (format = 'CSV', compression = 'NONE', include_header = 'true', "
        f"encryption = 'SSE_KMS', kms_key = '{kms_key}')"
    )
    columns, rows = query_rows(client, statement)
    manifest_column = next(i for i, c in enumerate(columns) if "manifest" in c.lower())
    manifest = json.loads(read_s3(s3, rows[0][manifest_column]))
    out = []
    for result in manifest.get("result_files", []):
        out.extend(csv.DictReader(io.StringIO(read_s3(s3, result["url"]))))
    return out


def read_s3(s3, uri):
    bucket, key = uri[len("s3://"):].split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")


def quoted(name):
    if not name.replace("_", "a").replace("-", "a").replace(".", "a").isalnum():
        raise SystemExit(f"unexpected identifier {name!r}")
    return f'"{name}"'


def bad_readings(client, s3, config, table, days, destination, kms_key):
    """Bad readings per (machine, hour) from the `<tag>_quality` measures that exist."""
    _, described = query_rows(client, f"DESCRIBE {table}")
    existing = {row[0] for row in described}
    quality = [f"{tag}_quality" for tag in config["tags"] if f"{tag}_quality" in existing]
    if not quality:
        return {}
    count = " + ".join(f"CASE WHEN {quoted(q)} = 'bad' THEN 1 ELSE 0 END" for q in quality)
    sql = (
        f"SELECT machine, bin(time, 1h) AS hour, SUM({count}) AS bad_readings FROM {table} "
        f"WHERE measure_name = 'telemetry' AND time >= ago({days}d) GROUP BY machine, bin(time, 1h)"
    )
    return {(r["machine"], parse_time(r["hour"])): r["bad_readings"] for r in unload(client, s3, sql, destination, kms_key)}


def state_history(sitewise, alias, start, end):
    """(time, state code) of the machine's good state values from `start` to `end`, oldest first."""
    points = []
    pages = sitewise.get_paginator("get_asset_property_value_history").paginate(
        propertyAlias=alias, startDate=start, endDate=end, timeOrdering="ASCENDING", qualities=["GOOD"]
    )
    for page in pages:
        for entry in page["assetPropertyValueHistory"]:
            value = entry["value"].get("integerValue", entry["value"].get("doubleValue"))
            if value is None:
                continue
            stamp = entry["timestamp"]
            moment = datetime.fromtimestamp(stamp["timeInSeconds"] + stamp.get("offsetInNanos", 0) / 1e9, tz=timezone.utc)
            points.append((moment, int(value)))
    return points


def fault_by_hour(points, end, fault_code):
    """Seconds in fault and entries into fault per hour (hour start -> value)."""
    seconds, entries = {}, {}
    for i, (moment, code) in enumerate(points):
        if code != fault_code:
            continue
        if i == 0 or points[i - 1][1] != fault_code:
            hour = moment.replace(minute=0, second=0, microsecond=0)
            entries[hour] = entries.get(hour, 0) + 1
        until = points[i + 1][0] if i + 1 < len(points) else end
        cursor = moment
        while cursor < until:
            hour = cursor.replace(minute=0, second=0, microsecond=0)
            stop = min(until, hour + HOUR)
            seconds[hour] = seconds.get(hour, 0.0) + (stop - cursor).total_seconds()
            cursor = stop
    return seconds, entries


def main():
    with open(os.path.join(CODE_DIR, "training-config.json"), encoding="utf-8") as f:
        config = json.load(f)
    region = setting("REGION")
    database = quoted(setting("DATABASE"))
    features_table = f"{database}.{quoted(setting('FEATURES_TABLE'))}"
    telemetry_table = f"{database}.{quoted(setting('TELEMETRY_TABLE'))}"
    unload_uri = setting("UNLOAD_URI")
    kms_key = setting("KMS_KEY_ARN")
    days = int(setting("TRAINING_DAYS"))
    horizon = int(setting("HORIZON_HOURS"))
    if days < 1 or horizon < 1:
        raise SystemExit(f"TRAINING_DAYS ({days}) and HORIZON_HOURS ({horizon}) must be positive")

    timestream = boto3.client("timestream-query", region_name=region)
    s3 = boto3.client("s3", region_name=region)
    sitewise = boto3.client("iotsitewise", region_name=region)
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)

    _, described = query_rows(timestream, f"DESCRIBE {features_table}")
    existing = {row[0] for row in described}
    selected = [c for c in config["featureColumns"] if c in existing]
    if not selected:
        raise SystemExit("the features table has no feature columns yet: the scheduled query has not written any features")
    sql = (
        f"SELECT machine, machine_type, time AS hour, {', '.join(quoted(c) for c in selected)} FROM {features_table} "
        f"WHERE measure_name = 'features' AND time >= ago({days}d)"
    )
    features = unload(timestream, s3, sql, f"{unload_uri}features/", kms_key)
    bad = bad_readings(timestream, s3, config, telemetry_table, days, f"{unload_uri}quality/", kms_key)

    faults = {}
    for machine in config["machines"]:
        points = state_history(sitewise, machine["stateAlias"], start, end)
        faults[machine["machine"]] = fault_by_hour(points, end, config["faultStateCode"])

    last_labelled = end - HOUR * (horizon + 1)
    rows = []
    for feature in features:
        machine, hour = feature["machine"], parse_time(feature["hour"])
        if machine not in faults or hour > last_labelled:
            continue
        seconds, entries = faults[machine]
        label = int(any(seconds.get(hour + HOUR * k, 0) > 0 for k in range(1, horizon + 1)))
        derived = {
            "fault_seconds": seconds.get(hour, 0.0),
            "fault_entries": entries.get(hour, 0),
            "bad_readings": bad.get((machine, hour), 0),
        }
        one_hot = {column: int(feature["machine_type"] == type_id) for type_id, column in config["machineTypeColumns"].items()}
        values = [feature.get(c, derived.get(c, one_hot.get(c, ""))) for c in config["columns"]]
        rows.append((hour, [label] + ["" if v is None else v for v in values]))

    if not rows:
        raise SystemExit(f"no machine-hour with a full {horizon} h horizon in the last {days} days: nothing to train on")
    if not any(r[0] == 1 for _, r in rows):
        raise SystemExit(f"no machine was in fault in the last {days} days: there is no failure to learn from")
    hours = sorted({hour for hour, _ in rows})
    cutoff = hours[int(len(hours) * 0.8)] if len(hours) > 1 else hours[-1] + HOUR
    for name, part in (("train", [r for h, r in rows if h < cutoff]), ("validation", [r for h, r in rows if h >= cutoff])):
        os.makedirs(os.path.join(OUTPUT_DIR, name), exist_ok=True)
        with open(os.path.join(OUTPUT_DIR, name, f"{name}.csv"), "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(part)
        print(f"{name}: {len(part)} rows, {sum(r[0] for r in part)} positive")


if __name__ == "__main__":
    main()
