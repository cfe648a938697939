/**
 * The detector's state in DynamoDB: one item per machine and per gateway of the factory, holding the state of each
 * of its detectors (conditions), in the factory's partition:
 *
 * | attribute | holds |
 * |---|---|
 * | `pk` (S) | the factory id: the sweep reads the whole factory with one `Query` |
 * | `sk` (S) | `machine#<id>` or `gateway#<id>` |
 * | `version` (N) | bumped by every write; every write is conditional on the version it read |
 * | `doc` (S) | the state document (JSON): conditions, event-time frontiers, latest values |
 * | `outbox` (M) | notifications decided but not yet confirmed sent: id -> JSON `{ notice, claimedAt }` |
 * | `updatedAt` (N) | wall-clock time of the write |
 *
 * Concurrency: two invocations that evaluate the same machine both read it, but only the first conditional write
 * succeeds; the other gets `ConditionalCheckFailedException`, re-reads and re-evaluates its input against the new
 * state (which already holds the transition, so it decides nothing new). A notification is written into the outbox
 * by the same conditional write that records the transition, so only the winner sends it; it is removed once SNS
 * took it. An entry left behind (the function died in between, or SNS failed) is sent by a later sweep, which first
 * claims it with a conditional update, so two sweeps never send it twice.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import type { GatewayDoc, MachineDoc, Notice } from "./detector";

/** A state document of either kind. */
export type StateDoc = MachineDoc | GatewayDoc;

/** A notification waiting in an item's outbox; `claimedAt` is when an invocation took it on to send it. */
export interface OutboxEntry {
  readonly notice: Notice;
  readonly claimedAt: number;
}

/** An item as read: `version` is `null` for an item that does not exist yet. */
export interface StoredItem {
  readonly sk: string;
  readonly version: number | null;
  readonly doc: StateDoc | null;
  readonly outbox: Readonly<Record<string, OutboxEntry>>;
  /** The outbox entries exactly as stored (a claim is conditional on the entry being unchanged). */
  readonly outboxRaw: Readonly<Record<string, string>>;
}

/** The conditional write lost: someone else wrote the item since it was read. */
export class VersionConflict extends Error {
  constructor(readonly sk: string) {
    super(`state item ${sk} was changed by another invocation since it was read`);
    this.name = "VersionConflict";
  }
}

/** Whether `error` is DynamoDB's failed condition. */
export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException || (error instanceof Error && error.name === "ConditionalCheckFailedException");
}

/** The detector state table of one factory. */
export class StateStore {
  constructor(
    private readonly ddb: DynamoDBClient,
    readonly tableName: string,
    readonly factoryId: string,
  ) {}

  /** Read one item (strongly consistent: the version must be the latest). */
  async get(sk: string): Promise<StoredItem> {
    const out = await this.ddb.send(new GetItemCommand({ TableName: this.tableName, Key: this.key(sk), ConsistentRead: true }));
    return out.Item === undefined ? { sk, version: null, doc: null, outbox: {}, outboxRaw: {} } : parseItem(out.Item, sk);
  }

  /** Every item of the factory (strongly consistent), page by page. */
  async all(): Promise<StoredItem[]> {
    const items: StoredItem[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "#pk = :pk",
          ExpressionAttributeNames: { "#pk": "pk" },
          ExpressionAttributeValues: { ":pk": { S: this.factoryId } },
          ConsistentRead: true,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      );
      for (const item of out.Items ?? []) items.push(parseItem(item, item.sk?.S ?? ""));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  /**
   * Write `doc` and `outbox` if the item is still at `expected` (`null`: does not exist yet); returns the new version.
   *
   * @throws VersionConflict when another invocation wrote it first.
   */
  async put(sk: string, expected: number | null, doc: StateDoc, outbox: Readonly<Record<string, OutboxEntry>>, now: number): Promise<number> {
    const version = (expected ?? 0) + 1;
    const outboxMap: Record<string, AttributeValue> = {};
    for (const [id, entry] of Object.entries(outbox)) outboxMap[id] = { S: JSON.stringify(entry) };
    try {
      await this.ddb.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            ...this.key(sk),
            version: { N: String(version) },
            doc: { S: JSON.stringify(doc) },
            outbox: { M: outboxMap },
            updatedAt: { N: String(now) },
          },
          ...(expected === null
            ? { ConditionExpression: "attribute_not_exists(#pk)", ExpressionAttributeNames: { "#pk": "pk" } }
            : { ConditionExpression: "#version = :expected", ExpressionAttributeNames: { "#version": "version" }, ExpressionAttributeValues: { ":expected": { N: String(expected) } } }),
        }),
      );
    } catch (error) {
      if (isConditionalCheckFailed(error)) throw new VersionConflict(sk);
      throw error;
    }
    return version;
  }

  /** Take an outbox entry on to send it, if it is still exactly as read; `false` when someone else changed it first. */
  async claim(sk: string, id: string, seen: string, now: number): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(sk),
          UpdateExpression: "SET #outbox.#id = :claimed ADD #version :one",
          ConditionExpression: "#outbox.#id = :seen",
          ExpressionAttributeNames: { "#outbox": "outbox", "#id": id, "#version": "version" },
          ExpressionAttributeValues: {
            ":claimed": { S: JSON.stringify({ ...(JSON.parse(seen) as OutboxEntry), claimedAt: now } satisfies OutboxEntry) },
            ":seen": { S: seen },
            ":one": { N: "1" },
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** Remove a sent notification from the outbox (bumping the version, so that no stale copy writes it back). */
  async remove(sk: string, id: string): Promise<void> {
    try {
      await this.ddb.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(sk),
          UpdateExpression: "REMOVE #outbox.#id ADD #version :one",
          ConditionExpression: "attribute_exists(#outbox.#id)",
          ExpressionAttributeNames: { "#outbox": "outbox", "#id": id, "#version": "version" },
          ExpressionAttributeValues: { ":one": { N: "1" } },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error; // already removed: nothing to do
    }
  }

  private key(sk: string): Record<string, AttributeValue> {
    return { pk: { S: this.factoryId }, sk: { S: sk } };
  }
}

function parseItem(item: Record<string, AttributeValue>, sk: string): StoredItem {
  const version = Number(item.version?.N ?? "0");
  const text = item.doc?.S;
  let doc: StateDoc | null = null;
  if (text !== undefined) {
    const parsed = JSON.parse(text) as { kind?: unknown };
    if (parsed.kind !== "machine" && parsed.kind !== "gateway") throw new Error(`state item ${sk} holds a document of unknown kind ${JSON.stringify(parsed.kind)}`);
    doc = parsed as StateDoc;
  }
  const outbox: Record<string, OutboxEntry> = {};
  const outboxRaw: Record<string, string> = {};
  for (const [id, value] of Object.entries(item.outbox?.M ?? {})) {
    if (value.S === undefined) continue;
    outbox[id] = JSON.parse(value.S) as OutboxEntry;
    outboxRaw[id] = value.S;
  }
  return { sk, version: Number.isSafeInteger(version) ? version : 0, doc, outbox, outboxRaw };
}
