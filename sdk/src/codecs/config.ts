/**
 * The stack config of one factory: everything that differs between factories is here, as data. The Pulumi
 * program, the edge agent and the Lambdas all read it through {@link FactoryConfig}, so a stack file that
 * decodes is one every part of the platform can use.
 */
import * as t from "io-ts";
import { failureAt, formatPath } from "../decode";
import { quantityOf, UnitId } from "../units";
import {
  closed,
  FactoryId,
  FiniteNumber,
  GatewayId,
  integerIn,
  LineId,
  MachineId,
  MachineTypeId,
  matching,
  oneOf,
  plainId,
  PositiveNumber,
  refinedString,
  TagName,
  text,
  withChecks,
} from "./primitives";

// ---------------------------------------------------------------------------------------------- factory

/** An AWS region code, e.g. `eu-central-1`. */
export const AwsRegion = matching("an AWS region code such as eu-central-1", /^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/);

/** An IANA time zone name the runtime knows, e.g. `Europe/Berlin` (the shift calendar is in local time). */
export const TimeZone = refinedString<string>("an IANA time zone name such as Europe/Berlin", isTimeZone);

function isTimeZone(name: string): boolean {
  if (!/^(?:UTC|[A-Z][A-Za-z_+-]*(?:\/[A-Za-z0-9_+-]+)+)$/.test(name)) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** A local time of day `HH:MM`, 00:00 to 23:59. */
export const TimeOfDay = matching("a time of day HH:MM from 00:00 to 23:59", /^(?:[01]\d|2[0-3]):[0-5]\d$/);

/** Weekdays as shifts name them, Monday first (ISO order). */
export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
/** A day of the week, `mon` to `sun`. */
export const Weekday = oneOf("a weekday", WEEKDAYS);
export type Weekday = t.TypeOf<typeof Weekday>;

/**
 * A shift of the factory's calendar, in the factory's local time. A shift whose `end` is not after its `start`
 * ends the next day (`22:00` to `06:00`); `days` are the days it starts on.
 */
export const Shift = closed("a shift", {
  id: plainId("shift", 24),
  name: text(64),
  start: TimeOfDay,
  end: TimeOfDay,
  days: t.array(Weekday, "a list of weekdays"),
});
export type Shift = t.TypeOf<typeof Shift>;

/** Identity and calendar of the factory. */
export const FactoryInfo = closed("factory details", {
  id: FactoryId,
  name: text(64),
  timeZone: TimeZone,
  shifts: t.array(Shift, "a list of shifts"),
});
export type FactoryInfo = t.TypeOf<typeof FactoryInfo>;

/** SiteWise tumbling window of the OEE metrics: `<n>m`, `<n>h`, `<n>d` or `<n>w`, from 1 minute to 1 week. */
export const MetricWindow = refinedString<string>(
  "a metric window from 1m to 1w, such as 5m, 15m, 1h or 1d",
  (s) => {
    const minutes = windowMinutes(s);
    return minutes !== undefined && minutes >= 1 && minutes <= 7 * 24 * 60;
  },
);

/** Length in minutes of a window such as `15m` or `1h`; `undefined` for text of another form. */
export function windowMinutes(window: string): number | undefined {
  const match = /^([1-9]\d{0,4})([mhdw])$/.exec(window);
  if (match === null) return undefined;
  const factor = { m: 1, h: 60, d: 1440, w: 10080 }[match[2] as "m" | "h" | "d" | "w"];
  return Number(match[1]) * factor;
}

/** OEE settings. */
export const OeeSettings = closed("OEE settings", { window: MetricWindow });
export type OeeSettings = t.TypeOf<typeof OeeSettings>;

// ---------------------------------------------------------------------------------------------- machine types

/**
 * Deadband of a tag: a new value is forwarded only when it differs from the last forwarded one by more than
 * `value` (in the tag's unit) or, for `percent`, by that share of the tag's valid range (OPC UA's absolute and
 * percent deadband).
 */
export const Deadband = withChecks(
  closed("a deadband", { kind: oneOf("a deadband kind", ["absolute", "percent"] as const), value: PositiveNumber }),
  (d, c) => (d.kind === "percent" && d.value > 100 ? [failureAt(c, ["value"], d.value, "a percentage from 0 to 100")] : []),
);
export type Deadband = t.TypeOf<typeof Deadband>;

/**
 * A telemetry tag of a machine type: its name, the unit the machines' PLCs or sensors report it in, the range
 * of valid values (in that unit; a value outside it is a dead letter, not a reading) and how it is sampled.
 */
export const TagSpec = withChecks(
  closed(
    "a tag",
    {
      name: TagName,
      unit: UnitId,
      min: FiniteNumber,
      max: FiniteNumber,
      samplingIntervalMs: integerIn(10, 3_600_000),
    },
    { deadband: Deadband },
  ),
  (tag, c) => (tag.min < tag.max ? [] : [failureAt(c, ["max"], tag.max, `a number greater than min (${tag.min})`)]),
);
export type TagSpec = t.TypeOf<typeof TagSpec>;

/** Property names of every machine model that tags cannot take. */
export const RESERVED_PROPERTY_NAMES: readonly string[] = ["state", "goodParts", "badParts", "idealRunRate"];

const StateCodeList = t.array(integerIn(-2_147_483_648, 2_147_483_647), "a list of whole numbers");

/** Which values of the PLC's state register mean which machine state. */
export const StateCodeMap = closed("state codes", {
  running: StateCodeList,
  idle: StateCodeList,
  fault: StateCodeList,
  plannedStop: StateCodeList,
});
export type StateCodeMap = t.TypeOf<typeof StateCodeMap>;

/** A kind of machine: one SiteWise asset model, one set of tags, one PLC state encoding. */
export const MachineType = closed(
  "a machine type",
  {
    id: MachineTypeId,
    name: text(64),
    stateCodes: StateCodeMap,
    tags: t.array(TagSpec, "a list of tags"),
  },
  {
    /** The value at which the PLC's part counters wrap to 0 (e.g. 65536 for a 16-bit counter). */
    counterRollover: integerIn(2, Number.MAX_SAFE_INTEGER),
  },
);
export type MachineType = t.TypeOf<typeof MachineType>;

// ---------------------------------------------------------------------------------------------- machines

/** An OPC UA node id in its string form (`ns=3;s=Press07.State`, `i=2258`, `nsu=<uri>;s=...`). */
export const NodeId = matching(
  "an OPC UA node id such as ns=3;s=Line1.Press07.Temperature or i=2258",
  /^(?:(?:ns=\d{1,5}|nsu=[^;\s]+);)?(?:i=\d{1,10}|s=\S.*|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/]+={0,2})$/,
);

/** An OPC UA server address `opc.tcp://host:port[/path]`. */
export const OpcUaUrl = matching("an OPC UA address opc.tcp://host:port", /^opc\.tcp:\/\/[A-Za-z0-9.-]+:\d{1,5}(?:\/\S*)?$/);

/** An MQTT topic name on the gateway's local broker (no wildcards). */
export const MqttTopicName = refinedString<string>(
  "an MQTT topic name without wildcards (+, #), at most 256 characters",
  (s) => s.length > 0 && s.length <= 256 && !/[+#]/.test(s) && !s.includes("\u0000") && !s.startsWith("$"),
);

/** OPC UA security policies a machine endpoint may use (`None` only with security mode `None`). */
export const SECURITY_POLICIES = ["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"] as const;

/** How the edge agent connects to a machine's OPC UA server. */
export const OpcUaConnection = withChecks(
  closed("an OPC UA connection", {
    endpoint: OpcUaUrl,
    securityMode: oneOf("a security mode", ["None", "Sign", "SignAndEncrypt"] as const),
    securityPolicy: oneOf("a security policy", SECURITY_POLICIES),
  }),
  (o, c) =>
    (o.securityMode === "None") === (o.securityPolicy === "None")
      ? []
      : [
          failureAt(
            c,
            ["securityPolicy"],
            o.securityPolicy,
            o.securityMode === "None" ? 'policy "None" with security mode None' : `a policy other than "None" with security mode ${o.securityMode}`,
          ),
        ],
);
export type OpcUaConnection = t.TypeOf<typeof OpcUaConnection>;

/** Node ids of the state register and the cumulative good and bad part counters. */
export const MachineSignals = closed("machine signals", { state: NodeId, goodCount: NodeId, badCount: NodeId });

/**
 * A machine. `tags` maps each OPC UA tag of its type to a node id, `sensors` each tag read from a local MQTT
 * sensor to its topic; together they cover the type's tags exactly once. `idealRunRate` is in parts per minute.
 */
export const Machine = closed(
  "a machine",
  {
    id: MachineId,
    name: text(64),
    type: MachineTypeId,
    idealRunRate: PositiveNumber,
    opcua: OpcUaConnection,
    signals: MachineSignals,
    tags: t.record(TagName, NodeId, "a map of tag name to OPC UA node id"),
  },
  { sensors: t.record(TagName, MqttTopicName, "a map of tag name to local MQTT topic") },
);
export type Machine = t.TypeOf<typeof Machine>;

/** A production line and its machines, in flow order. */
export const Line = closed("a line", { id: LineId, name: text(64), machines: t.array(Machine, "a list of machines") });
export type Line = t.TypeOf<typeof Line>;

/** An MQTT broker address on the gateway (`mqtt://` or `mqtts://`). */
export const MqttUrl = matching("an MQTT broker address mqtt://host:port or mqtts://host:port", /^mqtts?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$/);

/** An edge gateway (one Greengrass core device) and the lines it serves. */
/**
 * A PEM certificate signing request. The gateway makes its key pair on the device and only the request travels:
 * the private key never leaves the gateway, and the CSR (public) can live in the stack file.
 */
export const CertificateSigningRequest = refinedString<string>("a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST----- ...)", isCsrPem);

function isCsrPem(s: string): boolean {
  const m = /^-----BEGIN CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE REQUEST-----\s*$/.exec(s.trim() + "\n");
  if (m?.[1] === undefined) return false;
  const der = Buffer.from(m[1].replace(/\s+/g, ""), "base64");
  // DER SEQUENCE with a long-form length that spans exactly the rest of the request
  if (der.length < 64 || der[0] !== 0x30) return false;
  const lengthBytes = (der[1] ?? 0) & 0x7f;
  if (((der[1] ?? 0) & 0x80) === 0 || lengthBytes < 1 || lengthBytes > 3) return false;
  let length = 0;
  for (let i = 0; i < lengthBytes; i++) length = length * 256 + (der[2 + i] ?? 0);
  return 2 + lengthBytes + length === der.length;
}

/** A gateway: the lines it serves, and optionally the CSR its certificate is issued from. */
export const Gateway = closed(
  "a gateway",
  { id: GatewayId, name: text(64), lines: t.array(LineId, "a list of line ids") },
  { localBroker: MqttUrl, csr: CertificateSigningRequest },
);
export type Gateway = t.TypeOf<typeof Gateway>;

// ---------------------------------------------------------------------------------------------- cloud settings

/** Timestream retention (the service's own bounds) and how far ahead of the cloud's clock a reading may be. */
export const TelemetrySettings = closed(
  "telemetry settings",
  {
    memoryStoreRetentionHours: integerIn(1, 8766),
    magneticStoreRetentionDays: integerIn(1, 73000),
  },
  { maxFutureSkewSeconds: integerIn(0, 600) },
);
export type TelemetrySettings = t.TypeOf<typeof TelemetrySettings>;

/**
 * An alert on one tag of every machine of a type: fires when the value stays above `above` or below `below`
 * (in `unit`) for `forSeconds`, and clears once it is back inside by `hysteresis`.
 */
export const Threshold = closed(
  "a threshold",
  {
    id: plainId("alert", 32),
    machineType: MachineTypeId,
    tag: TagName,
    unit: UnitId,
    forSeconds: integerIn(0, 86_400),
    severity: oneOf("a severity", ["warning", "critical"] as const),
  },
  { above: FiniteNumber, below: FiniteNumber, hysteresis: PositiveNumber },
);
export type Threshold = t.TypeOf<typeof Threshold>;

/**
 * A rate-of-change alert on one tag of every machine of a type: fires as soon as the value changes faster than
 * `maxRatePerSecond` (in `unit` per second, either direction), measured between readings at least a second apart,
 * and clears once the rate is back under 80% of the limit or the value has held still for a minute.
 */
export const RateAlert = closed("a rate-of-change alert", {
  id: plainId("alert", 32),
  machineType: MachineTypeId,
  tag: TagName,
  unit: UnitId,
  maxRatePerSecond: PositiveNumber,
  severity: oneOf("a severity", ["warning", "critical"] as const),
});
export type RateAlert = t.TypeOf<typeof RateAlert>;

/** An e-mail address for notifications. */
export const EmailAddress = matching("an e-mail address", /^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$/);

/** Alerting: thresholds and rates of change, when a machine counts as silent, who is told. */
export const AlertSettings = closed(
  "alert settings",
  {
    silentMachineSeconds: integerIn(10, 86_400),
    faultAlertSeconds: integerIn(0, 86_400),
    thresholds: t.array(Threshold, "a list of thresholds"),
    notify: closed("notification targets", { emails: t.array(EmailAddress, "a list of e-mail addresses") }),
  },
  { rates: t.array(RateAlert, "a list of rate-of-change alerts") },
);
export type AlertSettings = t.TypeOf<typeof AlertSettings>;

/** An IPv4 CIDR block with a prefix from /16 to /24, e.g. `10.21.0.0/16`. */
export const VpcCidr = refinedString<string>("an IPv4 CIDR block from /16 to /24 such as 10.21.0.0/16", isVpcCidr);

function isVpcCidr(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  if (m === null) return false;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix < 16 || prefix > 24) return false;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  return address % 2 ** (32 - prefix) === 0; // no host bits set
}

/** A SageMaker model package ARN (a version in a model package group). */
export const ModelPackageArn = matching(
  "a SageMaker model package ARN arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>",
  /^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package\/[A-Za-z0-9-]{1,63}\/\d+$/,
);

/**
 * The Timestream cells of the factory's account and region (`ingest-cell1`, `query-cell2`...). Timestream's VPC
 * endpoints are per cell, and the cell an account is served by is only known from its endpoint discovery
 * (`aws timestream-write describe-endpoints`), so it is configured, not guessed.
 */
export const TimestreamCells = closed("Timestream cells", {
  ingest: matching("an ingest cell such as ingest-cell1 (from describe-endpoints)", /^ingest-cell\d{1,3}$/),
  query: matching("a query cell such as query-cell1 (from describe-endpoints)", /^query-cell\d{1,3}$/),
});
export type TimestreamCells = t.TypeOf<typeof TimestreamCells>;

/** The factory's VPC: its CIDR, how many availability zones (2 or more) and the Timestream cells to reach privately. */
export const VpcSettings = withChecks(
  closed("VPC settings", { enabled: t.boolean }, { cidr: VpcCidr, availabilityZones: integerIn(2, 6), timestreamCells: TimestreamCells }),
  (v, c) => [
    ...(v.enabled && v.cidr === undefined ? [failureAt(c, ["cidr"], v.cidr, "a CIDR block when the VPC is enabled")] : []),
    ...(v.enabled && v.timestreamCells === undefined
      ? [failureAt(c, ["timestreamCells"], v.timestreamCells, "the Timestream cells (ingest, query) when the VPC is enabled: the Lambdas reach Timestream through their endpoints")]
      : []),
  ],
);
export type VpcSettings = t.TypeOf<typeof VpcSettings>;

/**
 * A QuickSight user or group ARN (`arn:aws:quicksight:<identity region>:<account>:user/<namespace>/<name>` or
 * `...:group/<namespace>/<name>`): the principal the dashboards, datasets and data source are shared with. The
 * region is QuickSight's identity region, which may differ from the stack's.
 */
export const QuickSightPrincipalArn = matching(
  "a QuickSight user or group ARN arn:aws:quicksight:<region>:<account>:(user|group)/<namespace>/<name>",
  /^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:(?:user|group)\/[A-Za-z0-9._-]{1,64}\/[A-Za-z0-9+=,.@_/-]{1,256}$/,
);

/** QuickSight dashboards (they need a QuickSight subscription): on or off, and who gets them (required when on). */
export const QuickSightSettings = withChecks(
  closed("QuickSight settings", { enabled: t.boolean }, { principalArn: QuickSightPrincipalArn }),
  (q, c) =>
    q.enabled && q.principalArn === undefined
      ? [failureAt(c, ["principalArn"], q.principalArn, "the QuickSight user or group ARN the dashboards are shared with, when QuickSight is enabled")]
      : [],
);
export type QuickSightSettings = t.TypeOf<typeof QuickSightSettings>;

/** Feature switches: parts of the pipeline a factory may go without. */
export const Features = closed("feature switches", {
  vpc: VpcSettings,
  quickSight: QuickSightSettings,
  predictiveMaintenance: withChecks(
    closed("predictive maintenance settings", { enabled: t.boolean }, { approvedModelPackageArn: ModelPackageArn }),
    (p, c) =>
      !p.enabled && p.approvedModelPackageArn !== undefined
        ? [failureAt(c, ["enabled"], p.enabled, "true when an approved model package is named")]
        : [],
  ),
});
export type Features = t.TypeOf<typeof Features>;

/** Cost-allocation tags every factory must set; the program adds `Factory` itself. */
export const REQUIRED_COST_TAGS = ["CostCenter", "Owner", "Environment"] as const;

const TagKey = refinedString<string>(
  "a tag key of 1 to 128 letters, digits, spaces or _.:/=+-@ not starting with aws:",
  (s) => s.length >= 1 && s.length <= 128 && /^[\p{L}\p{N}\p{Zs}_.:/=+\-@]+$/u.test(s) && !s.toLowerCase().startsWith("aws:"),
);
const TagValue = refinedString<string>(
  "a tag value of at most 256 letters, digits, spaces or _.:/=+-@",
  (s) => s.length <= 256 && /^[\p{L}\p{N}\p{Zs}_.:/=+\-@]*$/u.test(s),
);

/** Cost-allocation tags, applied to every taggable resource of the stack. */
export const CostTags = withChecks(t.record(TagKey, TagValue, "a map of tag key to value"), (tags, c) =>
  REQUIRED_COST_TAGS.filter((k) => tags[k] === undefined || tags[k] === "").map((k) =>
    failureAt(c, [k], tags[k], `the required cost-allocation tag ${k} (${REQUIRED_COST_TAGS.join(", ")} are required)`),
  ),
);

// ---------------------------------------------------------------------------------------------- edge secrets

/**
 * A Secrets Manager secret's full ARN, with the six characters Secrets Manager appends to the name: Greengrass's
 * secret manager component and IAM both need the exact ARN.
 */
export const SecretArn = matching(
  "a Secrets Manager secret ARN arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>",
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
);

/** A KMS key ARN (`arn:aws:kms:<region>:<account>:key/<id>`). */
export const KmsKeyArn = matching("a KMS key ARN arn:aws:kms:<region>:<account>:key/<key id>", /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]{1,128}$/);

/**
 * The secrets the factory's edge agents read through Greengrass's secret manager component, which syncs them to
 * each gateway, keeps them encrypted with the gateway's key and serves them offline. The stack grants the
 * gateways' role exactly these secrets and the component exactly these ARNs; the values never pass through the
 * stack. `opcuaClientIdentity` holds `{"certificate": "<PEM>", "privateKey": "<PEM>"}` (the OPC UA client's
 * application instance certificate, which the PLCs trust), `plcCredentials` holds `{"username", "password"}` for
 * the OPC UA sessions (anonymous without it), and `kmsKeyArn` names the customer managed key they are encrypted
 * with (leave it out for the account's `aws/secretsmanager` key).
 */
export const EdgeSecrets = closed("edge secrets", {}, { opcuaClientIdentity: SecretArn, plcCredentials: SecretArn, kmsKeyArn: KmsKeyArn });
export type EdgeSecrets = t.TypeOf<typeof EdgeSecrets>;

/** Settings every edge agent of the factory shares. */
export const EdgeSettings = closed("edge settings", {}, { secrets: EdgeSecrets });
export type EdgeSettings = t.TypeOf<typeof EdgeSettings>;

// ---------------------------------------------------------------------------------------------- the whole

const FactoryConfigShape = closed("a factory stack config", {
  region: AwsRegion,
  factory: FactoryInfo,
  oee: OeeSettings,
  machineTypes: t.array(MachineType, "a list of machine types"),
  lines: t.array(Line, "a list of lines"),
  gateways: t.array(Gateway, "a list of gateways"),
  telemetry: TelemetrySettings,
  alerts: AlertSettings,
  features: Features,
  tags: CostTags,
}, { edge: EdgeSettings });

/**
 * A factory's complete stack config, with the checks that span sections: ids unique, every reference resolves,
 * every machine wires exactly the tags of its type, every line is served by exactly one gateway, shifts do not
 * overlap, alert thresholds name a real tag in a unit of its quantity.
 */
export const FactoryConfig = withChecks(FactoryConfigShape, crossChecks);
export type FactoryConfig = t.TypeOf<typeof FactoryConfig>;

type Errors = t.ValidationError[];

function crossChecks(config: t.TypeOf<typeof FactoryConfigShape>, c: t.Context): Errors {
  return [
    ...checkShifts(config.factory.shifts, c),
    ...checkMachineTypes(config.machineTypes, c),
    ...checkLines(config, c),
    ...checkGateways(config, c),
    ...checkThresholds(config, c),
    ...checkRates(config, c),
    ...checkEdgeSecrets(config, c),
  ];
}

/** One error for each item whose key repeats an earlier item's. */
function unique<T>(items: readonly T[], key: (item: T) => string, at: (index: number) => (string | number)[], what: string, c: t.Context): Errors {
  const seen = new Map<string, number>();
  const errors: Errors = [];
  items.forEach((item, index) => {
    const k = key(item);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, index);
    else errors.push(failureAt(c, at(index), k, `a ${what} not used before (${JSON.stringify(k)} is already ${formatPath(at(first))})`));
  });
  return errors;
}

const MINUTES_PER_WEEK = 7 * 24 * 60;

function checkShifts(shifts: readonly Shift[], c: t.Context): Errors {
  const errors = unique(shifts, (s) => s.id, (i) => ["factory", "shifts", i, "id"], "shift id", c);
  const owner = new Int16Array(MINUTES_PER_WEEK).fill(-1); // which shift holds each minute of the week
  shifts.forEach((shift, index) => {
    const at = ["factory", "shifts", index];
    if (shift.start === shift.end) {
      errors.push(failureAt(c, [...at, "end"], shift.end, `an end different from the start (${shift.start}); a shift is shorter than 24 hours`));
      return;
    }
    if (shift.days.length === 0) errors.push(failureAt(c, [...at, "days"], shift.days, "at least one weekday"));
    errors.push(...unique(shift.days, (d) => d, (i) => [...at, "days", i], "weekday", c));
    const start = minutesOf(shift.start);
    let end = minutesOf(shift.end);
    if (end <= start) end += 24 * 60;
    for (const day of new Set(shift.days)) {
      const base = WEEKDAYS.indexOf(day) * 24 * 60;
      for (let m = start; m < end; m++) {
        const slot = (base + m) % MINUTES_PER_WEEK;
        const other = owner[slot] ?? -1;
        if (other >= 0 && other !== index) {
          errors.push(failureAt(c, [...at, "start"], shift.start, `a time outside shift ${JSON.stringify(shifts[other]?.id)} (they overlap on ${day})`));
          return;
        }
        owner[slot] = index;
      }
    }
  });
  return errors;
}

function minutesOf(time: string): number {
  return Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));
}

function checkMachineTypes(types: readonly MachineType[], c: t.Context): Errors {
  const errors = unique(types, (mt) => mt.id, (i) => ["machineTypes", i, "id"], "machine type id", c);
  types.forEach((mt, i) => {
    const at = ["machineTypes", i];
    errors.push(...unique(mt.tags, (tag) => tag.name, (j) => [...at, "tags", j, "name"], "tag name", c));
    mt.tags.forEach((tag, j) => {
      if (RESERVED_PROPERTY_NAMES.includes(tag.name)) {
        errors.push(failureAt(c, [...at, "tags", j, "name"], tag.name, `a name other than ${RESERVED_PROPERTY_NAMES.join(", ")} (reserved for machine properties)`));
      }
    });
    const codes = (["running", "idle", "fault", "plannedStop"] as const).flatMap((state) =>
      mt.stateCodes[state].map((code, k) => ({ code, path: [...at, "stateCodes", state, k] })),
    );
    errors.push(...unique(codes, (x) => String(x.code), (k) => codes[k]?.path ?? [], "state code", c));
    if (mt.stateCodes.running.length === 0) errors.push(failureAt(c, [...at, "stateCodes", "running"], [], "at least one code for running"));
  });
  return errors;
}

function checkLines(config: t.TypeOf<typeof FactoryConfigShape>, c: t.Context): Errors {
  const types = new Map(config.machineTypes.map((mt) => [mt.id as string, mt]));
  const errors = unique(config.lines, (l) => l.id, (i) => ["lines", i, "id"], "line id", c);
  if (config.lines.length === 0) errors.push(failureAt(c, ["lines"], config.lines, "at least one line"));
  const machines = config.lines.flatMap((line, i) => line.machines.map((m, j) => ({ m, at: ["lines", i, "machines", j] })));
  errors.push(...unique(machines, (x) => x.m.id, (k) => [...(machines[k]?.at ?? []), "id"], "machine id", c));
  config.lines.forEach((line, i) => {
    if (line.machines.length === 0) errors.push(failureAt(c, ["lines", i, "machines"], line.machines, "at least one machine"));
  });
  for (const { m, at } of machines) {
    const type = types.get(m.type);
    if (type === undefined) {
      errors.push(failureAt(c, [...at, "type"], m.type, `one of the machine types (${[...types.keys()].join(", ")})`));
      continue;
    }
    const wired = new Set<string>();
    for (const [source, map] of [["tags", m.tags], ["sensors", m.sensors ?? {}]] as const) {
      for (const [tag, address] of Object.entries(map)) {
        if (!type.tags.some((spec) => spec.name === tag)) {
          errors.push(failureAt(c, [...at, source, tag], address, `no tag "${tag}": machine type ${type.id} has ${type.tags.map((s) => s.name).join(", ")}`));
        } else if (wired.has(tag)) {
          errors.push(failureAt(c, [...at, source, tag], address, `tag "${tag}" wired once, in either tags or sensors`));
        }
        wired.add(tag);
      }
    }
    for (const spec of type.tags) {
      if (!wired.has(spec.name)) {
        errors.push(failureAt(c, [...at, "tags", spec.name], undefined, `a node id (or a sensor topic) for tag "${spec.name}" of machine type ${type.id}`));
      }
    }
  }
  return errors;
}

function checkGateways(config: t.TypeOf<typeof FactoryConfigShape>, c: t.Context): Errors {
  const errors = unique(config.gateways, (g) => g.id, (i) => ["gateways", i, "id"], "gateway id", c);
  const lineIds = new Set<string>(config.lines.map((l) => l.id));
  const servedBy = new Map<string, number>();
  config.gateways.forEach((gateway, i) => {
    if (gateway.lines.length === 0) errors.push(failureAt(c, ["gateways", i, "lines"], gateway.lines, "at least one line id"));
    gateway.lines.forEach((lineId, j) => {
      const at = ["gateways", i, "lines", j];
      if (!lineIds.has(lineId)) {
        errors.push(failureAt(c, at, lineId, `one of the line ids (${[...lineIds].join(", ")})`));
        return;
      }
      const other = servedBy.get(lineId);
      if (other !== undefined) {
        errors.push(failureAt(c, at, lineId, `a line no other gateway serves (gateway ${config.gateways[other]?.id ?? other} serves ${lineId}; each line has exactly one gateway)`));
      } else servedBy.set(lineId, i);
    });
  });
  config.lines.forEach((line, i) => {
    if (!servedBy.has(line.id)) {
      errors.push(failureAt(c, ["lines", i, "id"], line.id, "a line that some gateway serves (add it to one gateway's lines)"));
    }
  });
  return errors;
}

/** Greengrass's secret manager reads secrets in the core's own region, so the secrets must live in the stack's. */
function checkEdgeSecrets(config: t.TypeOf<typeof FactoryConfigShape>, c: t.Context): Errors {
  const secrets = config.edge?.secrets ?? {};
  return (["opcuaClientIdentity", "plcCredentials", "kmsKeyArn"] as const).flatMap((key) => {
    const arn = secrets[key];
    const region = arn?.split(":")[3];
    return arn === undefined || region === config.region ? [] : [failureAt(c, ["edge", "secrets", key], arn, `an ARN in the stack's region ${config.region} (the gateways' secret manager reads secrets there)`)];
  });
}

function checkThresholds(config: t.TypeOf<typeof FactoryConfigShape>, c: t.Context): Errors {
  const thresholds = config.alerts.thresholds;
  const errors = unique(thresholds, (th) => th.id, (i) => ["alerts", "thresholds", i, "id"], "alert id", c);
  const types = new Map(config.machineTypes.map((mt) => [mt.id as string, mt]));
  thresholds.forEach((th, i) => {
    const at = ["alerts", "thresholds", i];
    const type = types.get(th.machineType);
    if (type === undefined) {
      errors.push(failureAt(c, [...at, "machineType"], th.machineType, `one of the machine types (${[...types.keys()].join(", ")})`));
      return;
    }
    const spec = type.tags.find((s) => s.name === th.tag);
    if (spec === undefined) {
      errors.push(failureAt(c, [...at, "tag"], th.tag, `a tag of machine type ${type.id} (${type.tags.map((s) => s.name).join(", ")})`));
      return;
    }
    if (quantityOf(th.unit) !== quantityOf(spec.unit)) {
      errors.push(failureAt(c, [...at, "unit"], th.unit, `a unit of ${quantityOf(spec.unit)}, the quantity of tag ${spec.name} (${spec.unit})`));
    }
    if (th.above === undefined && th.below === undefined) {
      errors.push(failureAt(c, [...at, "above"], undefined, "a limit: above, below, or both"));
    } else if (th.above !== undefined && th.below !== undefined && th.below >= th.above) {
      errors.push(failureAt(c, [...at, "below"], th.below, `a number less than above (${th.above})`));
    }
  });
  return errors;
}

/** Rate alerts: ids unique (among rates and thresholds, they name detectors), a real tag, a unit of its quantity. */
function checkRates(config: t.TypeOf<typeof FactoryConfigShape>, c: t.Context): Errors {
  const rates = config.alerts.rates ?? [];
  const errors = unique(rates, (r) => r.id, (i) => ["alerts", "rates", i, "id"], "alert id", c);
  const thresholdIds = new Set<string>(config.alerts.thresholds.map((th) => th.id));
  const types = new Map(config.machineTypes.map((mt) => [mt.id as string, mt]));
  rates.forEach((rate, i) => {
    const at = ["alerts", "rates", i];
    if (thresholdIds.has(rate.id)) errors.push(failureAt(c, [...at, "id"], rate.id, `an alert id no threshold uses (${JSON.stringify(rate.id)} is a threshold's id)`));
    const type = types.get(rate.machineType);
    if (type === undefined) {
      errors.push(failureAt(c, [...at, "machineType"], rate.machineType, `one of the machine types (${[...types.keys()].join(", ")})`));
      return;
    }
    const spec = type.tags.find((s) => s.name === rate.tag);
    if (spec === undefined) {
      errors.push(failureAt(c, [...at, "tag"], rate.tag, `a tag of machine type ${type.id} (${type.tags.map((s) => s.name).join(", ")})`));
      return;
    }
    if (quantityOf(rate.unit) !== quantityOf(spec.unit)) {
      errors.push(failureAt(c, [...at, "unit"], rate.unit, `a unit of ${quantityOf(spec.unit)}, the quantity of tag ${spec.name} (${spec.unit}); the rate is in this unit per second`));
    }
  });
  return errors;
}
