/**
 * QuickSightDashboards (`smart-factory:features.quickSight.enabled`, needs a QuickSight subscription): the factory's
 * Timestream telemetry in QuickSight, shared with the configured QuickSight user or group (`principalArn`), which
 * owns the data source, the dataset and the dashboard.
 *
 * - a Timestream data source (QuickSight reaches Timestream with its own service role: allow Timestream in
 *   QuickSight's "Security & permissions" once per account);
 * - a direct-query dataset "telemetry per machine": one row per machine, tag and minute (the minute's average, in
 *   the tag's SI unit), over the last 7 days, the multi-measure records unpivoted so one visual fits every tag;
 * - a dashboard with one sheet: each tag's hourly average per machine over time, and each machine's peak per tag.
 *
 * OEE is not here: its inputs (machine state, part counts) and metrics live in IoT SiteWise, which QuickSight
 * cannot query; they reach QuickSight through the data lake's Athena source. Like any query naming measure
 * columns, the dataset's SQL is checked against the telemetry table when QuickSight creates it: enable QuickSight
 * once every tag has been reported.
 */
import * as awsnative from "@pulumi/aws-native";
import * as pulumi from "@pulumi/pulumi";
import { canonicalUnitOf, quoteId, quoteIdentifier, quoteResourceName, quoteString, scopedName, TELEMETRY_MEASURE_NAME, type FactoryConfig } from "@smart-factory/sdk";
import type { AccountContext } from "../lib/iam";

/** What the principal may do with the data source (owner). */
export const DATA_SOURCE_ACTIONS = [
  "quicksight:DescribeDataSource",
  "quicksight:DescribeDataSourcePermissions",
  "quicksight:PassDataSource",
  "quicksight:UpdateDataSource",
  "quicksight:DeleteDataSource",
  "quicksight:UpdateDataSourcePermissions",
] as const;

/** What the principal may do with the dataset (owner). */
export const DATASET_ACTIONS = [
  "quicksight:DescribeDataSet",
  "quicksight:DescribeDataSetPermissions",
  "quicksight:PassDataSet",
  "quicksight:DescribeIngestion",
  "quicksight:ListIngestions",
  "quicksight:UpdateDataSet",
  "quicksight:DeleteDataSet",
  "quicksight:CreateIngestion",
  "quicksight:CancelIngestion",
  "quicksight:UpdateDataSetPermissions",
] as const;

/** What the principal may do with the dashboard (owner: view, share, update). */
export const DASHBOARD_ACTIONS = [
  "quicksight:DescribeDashboard",
  "quicksight:ListDashboardVersions",
  "quicksight:QueryDashboard",
  "quicksight:UpdateDashboard",
  "quicksight:DeleteDashboard",
  "quicksight:DescribeDashboardPermissions",
  "quicksight:UpdateDashboardPermissions",
  "quicksight:UpdateDashboardPublishedVersion",
] as const;

/** How far back the telemetry dataset reaches (a direct query: every visual scans at most this). */
export const TELEMETRY_DATASET_DAYS = 7;

/** The dataset's columns and their QuickSight types. */
export const TELEMETRY_DATASET_COLUMNS = [
  { name: "minute", type: "DATETIME" },
  { name: "line", type: "STRING" },
  { name: "machine_type", type: "STRING" },
  { name: "machine", type: "STRING" },
  { name: "tag", type: "STRING" },
  { name: "unit", type: "STRING" },
  { name: "value", type: "DECIMAL" },
] as const;

/**
 * The dataset's SQL: for every tag (and canonical unit), the minute averages of the machine types that have it,
 * as rows `(minute, line, machine_type, machine, tag, unit, value)`, one `SELECT` per tag joined by `UNION ALL`.
 */
export function telemetryDatasetSql(config: FactoryConfig, database: string, table: string): string {
  const groups = new Map<string, { tag: string; unit: string; types: string[] }>();
  for (const type of config.machineTypes) {
    for (const spec of type.tags) {
      const unit = canonicalUnitOf(spec.unit);
      const key = `${spec.name}\u0000${unit}`;
      const group = groups.get(key) ?? { tag: spec.name, unit, types: [] };
      group.types.push(type.id);
      groups.set(key, group);
    }
  }
  const from = `${quoteResourceName("database", database)}.${quoteResourceName("table", table)}`;
  const [line, machineType, machine] = ["line", "machine_type", "machine"].map((d) => quoteIdentifier("dimension", d));
  return [...groups.values()]
    .map(({ tag, unit, types }) => {
      const column = quoteIdentifier("tag", tag);
      return [
        `SELECT bin(time, 1m) AS "minute", ${line}, ${machineType}, ${machine}, ${quoteString("tag", tag)} AS "tag", ${quoteString("unit", unit)} AS "unit", AVG(${column}) AS "value"`,
        `FROM ${from}`,
        `WHERE measure_name = ${quoteString("measure_name", TELEMETRY_MEASURE_NAME)} AND time > ago(${TELEMETRY_DATASET_DAYS}d) AND ${column} IS NOT NULL`,
        `  AND ${machineType} IN (${types.map((t) => quoteId("machineType", t, "machine type")).join(", ")})`,
        `GROUP BY bin(time, 1m), ${line}, ${machineType}, ${machine}`,
      ].join("\n");
    })
    .join("\nUNION ALL\n");
}

export interface QuickSightDashboardsArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
  /** The QuickSight user or group that owns everything here. */
  readonly principalArn: string;
  readonly telemetry: { readonly databaseName: pulumi.Input<string>; readonly tableName: pulumi.Input<string> };
}

/** The dataset's identifier inside the dashboard definition. */
const DATASET = "telemetry";

const column = (columnName: string): { dataSetIdentifier: string; columnName: string } => ({ dataSetIdentifier: DATASET, columnName });
const category = (fieldId: string, name: string): awsnative.types.input.quicksight.DashboardDimensionFieldArgs => ({ categoricalDimensionField: { fieldId, column: column(name) } });
const measure = (fieldId: string, aggregation: "AVERAGE" | "MAX"): awsnative.types.input.quicksight.DashboardMeasureFieldArgs => ({
  numericalMeasureField: { fieldId, column: column("value"), aggregationFunction: { simpleNumericalAggregation: aggregation } },
});
const title = (text: string): awsnative.types.input.quicksight.DashboardVisualTitleLabelOptionsArgs => ({ visibility: "VISIBLE", formatText: { plainText: text } });

/** The dashboard: one sheet, a line chart of hourly averages and a bar chart of peaks, both per tag. */
export function telemetryDashboardDefinition(dataSetArn: pulumi.Input<string>): awsnative.types.input.quicksight.DashboardVersionDefinitionArgs {
  const trend = "telemetry-trend";
  const peaks = "telemetry-peaks";
  return {
    dataSetIdentifierDeclarations: [{ identifier: DATASET, dataSetArn }],
    sheets: [
      {
        sheetId: "machines",
        name: "Machines",
        title: "Telemetry per machine",
        description: `Hourly averages and peaks of every tag, per machine, over the last ${TELEMETRY_DATASET_DAYS} days (SI units)`,
        visuals: [
          {
            lineChartVisual: {
              visualId: trend,
              title: title("Hourly average per machine"),
              chartConfiguration: {
                fieldWells: {
                  lineChartAggregatedFieldWells: {
                    category: [{ dateDimensionField: { fieldId: "trend-time", column: column("minute"), dateGranularity: "HOUR" } }],
                    values: [measure("trend-value", "AVERAGE")],
                    colors: [category("trend-machine", "machine")],
                    smallMultiples: [category("trend-tag", "tag")],
                  },
                },
              },
            },
          },
          {
            barChartVisual: {
              visualId: peaks,
              title: title("Peak per machine"),
              chartConfiguration: {
                orientation: "HORIZONTAL",
                fieldWells: {
                  barChartAggregatedFieldWells: {
                    category: [category("peak-machine", "machine")],
                    values: [measure("peak-value", "MAX")],
                    smallMultiples: [category("peak-tag", "tag")],
                  },
                },
              },
            },
          },
        ],
        layouts: [
          {
            configuration: {
              gridLayout: {
                elements: [
                  { elementId: trend, elementType: "VISUAL", columnIndex: 0, rowIndex: 0, columnSpan: 36, rowSpan: 14 },
                  { elementId: peaks, elementType: "VISUAL", columnIndex: 0, rowIndex: 14, columnSpan: 36, rowSpan: 12 },
                ],
              },
            },
          },
        ],
      },
    ],
  };
}

/** The factory's QuickSight data source, dataset and dashboard. */
export class QuickSightDashboards extends pulumi.ComponentResource {
  readonly dataSource: awsnative.quicksight.DataSource;
  readonly telemetryDataSet: awsnative.quicksight.DataSet;
  readonly dashboard: awsnative.quicksight.Dashboard;
  /** Where the dashboard opens in the QuickSight console. */
  readonly dashboardUrl: pulumi.Output<string>;

  constructor(name: string, args: QuickSightDashboardsArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:dashboards:QuickSightDashboards", name, {}, opts);
    const { config, account } = args;
    const factoryId = config.factory.id;
    const child = { parent: this };
    const awsAccountId = account.accountId;
    const owner = (actions: readonly string[]): { principal: string; actions: string[] }[] => [{ principal: args.principalArn, actions: [...actions] }];

    this.dataSource = new awsnative.quicksight.DataSource(
      `${name}-timestream`,
      { awsAccountId, dataSourceId: scopedName("quicksightId", factoryId, "timestream"), name: `${config.factory.name}: Timestream`, type: "TIMESTREAM", permissions: owner(DATA_SOURCE_ACTIONS) },
      child,
    );
    const sql = pulumi.all([args.telemetry.databaseName, args.telemetry.tableName]).apply(([db, table]) => telemetryDatasetSql(config, db, table));
    this.telemetryDataSet = new awsnative.quicksight.DataSet(
      `${name}-telemetry`,
      {
        awsAccountId,
        dataSetId: scopedName("quicksightId", factoryId, "telemetry-per-machine"),
        name: `${config.factory.name}: telemetry per machine`,
        importMode: "DIRECT_QUERY",
        physicalTableMap: {
          telemetry: { customSql: { dataSourceArn: this.dataSource.arn, name: "telemetry per machine and minute", sqlQuery: sql, columns: TELEMETRY_DATASET_COLUMNS.map((c) => ({ ...c })) } },
        },
        logicalTableMap: { telemetry: { alias: "telemetry", source: { physicalTableId: "telemetry" } } },
        permissions: owner(DATASET_ACTIONS),
      },
      child,
    );
    const dashboardId = scopedName("quicksightId", factoryId, "telemetry");
    this.dashboard = new awsnative.quicksight.Dashboard(
      `${name}-telemetry`,
      {
        awsAccountId,
        dashboardId,
        name: `${config.factory.name}: machines`,
        definition: telemetryDashboardDefinition(this.telemetryDataSet.arn),
        dashboardPublishOptions: { adHocFilteringOption: { availabilityStatus: "ENABLED" }, exportToCsvOption: { availabilityStatus: "ENABLED" } },
        permissions: owner(DASHBOARD_ACTIONS),
        versionDescription: "Managed by the smart-factory Pulumi program",
      },
      child,
    );
    this.dashboardUrl = pulumi.output(`https://${account.region}.quicksight.aws.amazon.com/sn/dashboards/${dashboardId}`);
    this.registerOutputs({ dashboard: this.dashboard.arn, dataSet: this.telemetryDataSet.arn, dataSource: this.dataSource.arn });
  }
}
