/**
 * DynamoDB in memory, for the detector's state table: `GetItem`, `PutItem`, `UpdateItem` and `Query`, with the
 * expression forms `lambdas/detector/store.ts` writes and nothing else:
 *
 * - conditions: `attribute_exists(<path>)`, `attribute_not_exists(<path>)`, `<path> = :value`;
 * - updates: `SET <path> = :value`, `REMOVE <path>`, `ADD <top-level path> :number`, in any combination of the three
 *   clauses, each with one or more comma-separated actions;
 * - key conditions: `<partition key> = :value`;
 * - a path is one or more `#name` placeholders joined by `.` (map members).
 *
 * Anything else (another function or comparator, `AND`/`OR`, arithmetic, list indexes, bare attribute names, a
 * parameter such as `FilterExpression` or `ReturnValues: ALL_NEW`) is refused with an Error that quotes it: a
 * condition this table did not evaluate must never pass silently. A failed condition throws the SDK's
 * `ConditionalCheckFailedException`, so the store's conflict handling runs as against DynamoDB; placeholders that
 * are undefined or unused, an update of a key attribute, a nested path under a missing map and items over 400 KB
 * fail with DynamoDB's `ValidationException`. Every read is strongly consistent (a single copy in memory).
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  ResourceNotFoundException,
  type AttributeValue,
  type GetItemCommandInput,
  type GetItemCommandOutput,
  type PutItemCommandInput,
  type PutItemCommandOutput,
  type QueryCommandInput,
  type QueryCommandOutput,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type UpdateItemCommandInput,
  type UpdateItemCommandOutput,
} from "@aws-sdk/client-dynamodb";
import { LOCAL_CREDENTIALS, localMetadata, serveLocally, unknownCommand } from "./serveLocally";

/** A table: its name and key attributes (strings). */
export interface TableSpec {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey?: string;
}

type Item = Record<string, AttributeValue>;

/** DynamoDB's limit on an item's size. */
export const MAX_ITEM_BYTES = 400 * 1024;

const SERVICE = "DynamoDB";
const IMPLEMENTED = ["GetItem", "PutItem", "UpdateItem", "Query"] as const;

/** The parameters each command may carry; any other one is refused rather than ignored. */
const ALLOWED_PARAMETERS: Readonly<Record<(typeof IMPLEMENTED)[number], readonly string[]>> = {
  GetItem: ["TableName", "Key", "ConsistentRead", "ReturnConsumedCapacity"],
  PutItem: ["TableName", "Item", "ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues", "ReturnValues", "ReturnConsumedCapacity"],
  UpdateItem: ["TableName", "Key", "UpdateExpression", "ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues", "ReturnValues", "ReturnConsumedCapacity"],
  Query: ["TableName", "KeyConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues", "ConsistentRead", "ExclusiveStartKey", "Limit", "ScanIndexForward", "ReturnConsumedCapacity"],
};

/** DynamoDB's generic client error, with its name. */
function validation(message: string): DynamoDBServiceException {
  return new DynamoDBServiceException({ name: "ValidationException", $fault: "client", message, $metadata: {} });
}

/** The error for an expression this local table does not implement: it quotes the expression. */
export class UnsupportedExpressionError extends Error {
  constructor(
    readonly parameter: string,
    readonly expression: string,
    why: string,
  ) {
    super(`the local DynamoDB does not support the ${parameter} ${JSON.stringify(expression)}: ${why}`);
    this.name = "UnsupportedExpressionError";
  }
}

/** DynamoDB's item API for the tables given, in memory. */
export class LocalDynamoDb {
  private readonly tables = new Map<string, { spec: TableSpec; items: Map<string, Item> }>();

  constructor(tables: readonly TableSpec[]) {
    for (const spec of tables) this.tables.set(spec.name, { spec, items: new Map() });
  }

  /** Make `client` read and write here; returns it. */
  attach(client: DynamoDBClient): DynamoDBClient {
    return serveLocally<DynamoDBClient, ServiceInputTypes, ServiceOutputTypes>(client, SERVICE, (command, input) => {
      switch (command) {
        case "GetItem":
          return this.getItem(input as GetItemCommandInput);
        case "PutItem":
          return this.putItem(input as PutItemCommandInput);
        case "UpdateItem":
          return this.updateItem(input as UpdateItemCommandInput);
        case "Query":
          return this.query(input as QueryCommandInput);
        default:
          throw unknownCommand(SERVICE, command, IMPLEMENTED);
      }
    });
  }

  /** A client in `region` that reads and writes here, with static dummy credentials. */
  client(region: string): DynamoDBClient {
    return this.attach(new DynamoDBClient({ region, credentials: LOCAL_CREDENTIALS }));
  }

  /** A copy of every item of `table`, by sort order of their keys. */
  items(table: string): Item[] {
    const t = this.table(table);
    return [...t.items.entries()].sort(([a], [b]) => compare(a, b)).map(([, item]) => structuredClone(item));
  }

  /** `GetItem`. */
  getItem(input: GetItemCommandInput): GetItemCommandOutput {
    checkParameters("GetItem", input);
    const t = this.table(input.TableName);
    const item = t.items.get(keyOf(t.spec, input.Key ?? {}, true));
    return { $metadata: localMetadata(), ...(item === undefined ? {} : { Item: structuredClone(item) }) };
  }

  /** `PutItem`: replaces the whole item if the condition holds. */
  putItem(input: PutItemCommandInput): PutItemCommandOutput {
    checkParameters("PutItem", input);
    noReturnValues(input.ReturnValues);
    const t = this.table(input.TableName);
    const item = input.Item ?? {};
    const key = keyOf(t.spec, item, false);
    const scope = new Placeholders(input.ExpressionAttributeNames, input.ExpressionAttributeValues);
    const condition = input.ConditionExpression === undefined ? undefined : parseCondition(input.ConditionExpression, scope);
    scope.checkAllUsed();
    checkSize(item);
    const existing = t.items.get(key);
    if (condition !== undefined && !condition(existing)) throw conditionFailed();
    t.items.set(key, structuredClone(item));
    return { $metadata: localMetadata() };
  }

  /** `UpdateItem`: applies the update to the item (or to a new one with only its key) if the condition holds. */
  updateItem(input: UpdateItemCommandInput): UpdateItemCommandOutput {
    checkParameters("UpdateItem", input);
    noReturnValues(input.ReturnValues);
    const t = this.table(input.TableName);
    const keyAttributes = input.Key ?? {};
    const key = keyOf(t.spec, keyAttributes, true);
    if (input.UpdateExpression === undefined) throw new UnsupportedExpressionError("UpdateExpression", "", "an UpdateItem without an UpdateExpression (legacy AttributeUpdates) is not supported");
    const scope = new Placeholders(input.ExpressionAttributeNames, input.ExpressionAttributeValues);
    const update = parseUpdate(input.UpdateExpression, scope, [t.spec.partitionKey, ...(t.spec.sortKey === undefined ? [] : [t.spec.sortKey])]);
    const condition = input.ConditionExpression === undefined ? undefined : parseCondition(input.ConditionExpression, scope);
    scope.checkAllUsed();
    const existing = t.items.get(key);
    if (condition !== undefined && !condition(existing)) throw conditionFailed();
    const item = structuredClone(existing ?? keyAttributes);
    update(item);
    checkSize(item);
    t.items.set(key, item);
    return { $metadata: localMetadata() };
  }

  /** `Query` on the partition key, in sort key order, paged by `Limit`. */
  query(input: QueryCommandInput): QueryCommandOutput {
    checkParameters("Query", input);
    const t = this.table(input.TableName);
    if (input.KeyConditionExpression === undefined) throw new UnsupportedExpressionError("KeyConditionExpression", "", "a Query without a KeyConditionExpression (legacy KeyConditions) is not supported");
    const scope = new Placeholders(input.ExpressionAttributeNames, input.ExpressionAttributeValues);
    const partition = parseKeyCondition(input.KeyConditionExpression, scope, t.spec.partitionKey);
    scope.checkAllUsed();
    const limit = input.Limit;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw validation(`Limit must be a whole number of at least 1, got ${limit}`);
    let entries = [...t.items.entries()].filter(([, item]) => sameValue(item[t.spec.partitionKey], partition)).sort(([a], [b]) => compare(a, b));
    if (input.ScanIndexForward === false) entries.reverse();
    if (input.ExclusiveStartKey !== undefined) {
      const start = keyOf(t.spec, input.ExclusiveStartKey, true);
      const at = entries.findIndex(([k]) => k === start);
      // DynamoDB resumes after the key even when that item is gone: by key order, not by position
      entries = at >= 0 ? entries.slice(at + 1) : entries.filter(([k]) => (input.ScanIndexForward === false ? compare(k, start) < 0 : compare(k, start) > 0));
    }
    const page = limit === undefined ? entries : entries.slice(0, limit);
    const more = limit !== undefined && entries.length > limit;
    const last = page[page.length - 1]?.[1];
    return {
      $metadata: localMetadata(),
      Items: page.map(([, item]) => structuredClone(item)),
      Count: page.length,
      ScannedCount: page.length,
      ...(more && last !== undefined ? { LastEvaluatedKey: keyAttributesOf(t.spec, last) } : {}),
    };
  }

  private table(name: string | undefined): { spec: TableSpec; items: Map<string, Item> } {
    const t = this.tables.get(name ?? "");
    if (t === undefined) throw new ResourceNotFoundException({ message: `Requested resource not found: table ${JSON.stringify(name)} does not exist`, $metadata: {} });
    return t;
  }
}

// ---------------------------------------------------------------------------------------------- keys and items

/** The item's key as a map key; `exact`: the attributes must be the key and nothing else (a `Key` parameter). */
function keyOf(spec: TableSpec, attributes: Item, exact: boolean): string {
  const names = [spec.partitionKey, ...(spec.sortKey === undefined ? [] : [spec.sortKey])];
  const parts = names.map((name) => {
    const value = attributes[name]?.S;
    if (value === undefined || value === "") throw validation(`One or more parameter values were invalid: key attribute ${name} must be a non-empty string (S) of table ${spec.name}`);
    return value;
  });
  if (exact) {
    const extra = Object.keys(attributes).filter((k) => !names.includes(k));
    if (extra.length > 0) throw validation(`The provided key element does not match the schema of table ${spec.name}: ${extra.join(", ")} is not a key attribute`);
  }
  return parts.join("\u0000");
}

function keyAttributesOf(spec: TableSpec, item: Item): Item {
  const out: Item = {};
  for (const name of [spec.partitionKey, ...(spec.sortKey === undefined ? [] : [spec.sortKey])]) {
    const value = item[name];
    if (value !== undefined) out[name] = structuredClone(value);
  }
  return out;
}

function checkParameters(command: (typeof IMPLEMENTED)[number], input: object): void {
  const allowed = ALLOWED_PARAMETERS[command];
  for (const [name, value] of Object.entries(input)) {
    if (value !== undefined && !allowed.includes(name)) throw new Error(`the local DynamoDB does not support the ${command} parameter ${name} (it supports ${allowed.join(", ")})`);
  }
}

function noReturnValues(returnValues: string | undefined): void {
  if (returnValues !== undefined && returnValues !== "NONE") throw new Error(`the local DynamoDB does not support ReturnValues ${returnValues} (only NONE)`);
}

function conditionFailed(): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** DynamoDB's item size: attribute names and values in bytes, as its documentation counts them. */
function checkSize(item: Item): void {
  const size = Object.entries(item).reduce((n, [name, value]) => n + Buffer.byteLength(name) + valueSize(value), 0);
  if (size > MAX_ITEM_BYTES) throw validation(`Item size has exceeded the maximum allowed size: ${size} bytes of ${MAX_ITEM_BYTES}`);
}

function valueSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) return Math.ceil(v.N.replace(/^-|\.|e.*$/gi, "").length / 2) + 1;
  if (v.B !== undefined) return v.B.byteLength;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.M !== undefined) return 3 + Object.entries(v.M).reduce((n, [name, x]) => n + Buffer.byteLength(name) + valueSize(x) + 1, 0);
  if (v.L !== undefined) return 3 + v.L.reduce((n, x) => n + valueSize(x) + 1, 0);
  if (v.SS !== undefined) return v.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (v.NS !== undefined) return v.NS.reduce((n, s) => n + Math.ceil(s.length / 2) + 1, 0);
  if (v.BS !== undefined) return v.BS.reduce((n, b) => n + b.byteLength, 0);
  return 0;
}

/** Whether two attribute values are equal as DynamoDB's `=` compares them (numbers by value). */
function sameValue(a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (a.S !== undefined || b.S !== undefined) return a.S === b.S;
  if (a.N !== undefined || b.N !== undefined) return a.N !== undefined && b.N !== undefined && Number(a.N) === Number(b.N);
  if (a.B !== undefined || b.B !== undefined) return a.B !== undefined && b.B !== undefined && Buffer.from(a.B).equals(Buffer.from(b.B));
  if (a.BOOL !== undefined || b.BOOL !== undefined) return a.BOOL === b.BOOL;
  if (a.NULL !== undefined || b.NULL !== undefined) return a.NULL === b.NULL;
  if (a.M !== undefined && b.M !== undefined) {
    const am = a.M;
    const bm = b.M;
    const keys = Object.keys(am);
    return keys.length === Object.keys(bm).length && keys.every((k) => sameValue(am[k], bm[k]));
  }
  if (a.L !== undefined && b.L !== undefined) {
    const bl = b.L;
    return a.L.length === bl.length && a.L.every((x, i) => sameValue(x, bl[i]));
  }
  const set = (v: AttributeValue): string[] | undefined => v.SS ?? v.NS?.map((n) => String(Number(n)));
  const as = set(a);
  const bs = set(b);
  return as !== undefined && bs !== undefined && as.length === bs.length && [...as].sort().join("\u0000") === [...bs].sort().join("\u0000");
}

// ---------------------------------------------------------------------------------------------- expressions

/** The request's placeholders, and which of them the expressions used (DynamoDB refuses unused ones). */
class Placeholders {
  private readonly usedNames = new Set<string>();
  private readonly usedValues = new Set<string>();

  constructor(
    private readonly names: Readonly<Record<string, string>> = {},
    private readonly values: Readonly<Record<string, AttributeValue>> = {},
  ) {}

  name(placeholder: string): string {
    const name = this.names[placeholder];
    if (name === undefined) throw validation(`An expression attribute name used in the document path is not defined; attribute name: ${placeholder}`);
    this.usedNames.add(placeholder);
    return name;
  }

  value(placeholder: string): AttributeValue {
    const value = this.values[placeholder];
    if (value === undefined) throw validation(`An expression attribute value used in expression is not defined; attribute value: ${placeholder}`);
    this.usedValues.add(placeholder);
    return value;
  }

  checkAllUsed(): void {
    const names = Object.keys(this.names).filter((k) => !this.usedNames.has(k));
    if (names.length > 0) throw validation(`Value provided in ExpressionAttributeNames unused in expressions: keys: {${names.join(", ")}}`);
    const values = Object.keys(this.values).filter((k) => !this.usedValues.has(k));
    if (values.length > 0) throw validation(`Value provided in ExpressionAttributeValues unused in expressions: keys: {${values.join(", ")}}`);
  }
}

type Token = { kind: "name" | "value" | "word" | "punct"; text: string };

function tokenize(parameter: string, expression: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s*(?:(#[A-Za-z0-9_]+)|(:[A-Za-z0-9_]+)|([A-Za-z_][A-Za-z0-9_]*)|([().=,]))/y;
  let at = 0;
  while (at < expression.length) {
    if (/^\s*$/.test(expression.slice(at))) break;
    pattern.lastIndex = at;
    const m = pattern.exec(expression);
    if (m === null) throw new UnsupportedExpressionError(parameter, expression, `${JSON.stringify(expression.slice(at).trim().slice(0, 12))} at character ${at} is not part of the supported forms`);
    if (m[1] !== undefined) tokens.push({ kind: "name", text: m[1] });
    else if (m[2] !== undefined) tokens.push({ kind: "value", text: m[2] });
    else if (m[3] !== undefined) tokens.push({ kind: "word", text: m[3] });
    else tokens.push({ kind: "punct", text: m[4] ?? "" });
    at = pattern.lastIndex;
  }
  return tokens;
}

/** A cursor over an expression's tokens that refuses, quoting the expression, whatever the grammar does not expect. */
class Parser {
  private at = 0;
  private readonly tokens: Token[];

  constructor(
    readonly parameter: string,
    readonly expression: string,
    readonly scope: Placeholders,
  ) {
    this.tokens = tokenize(parameter, expression);
  }

  fail(why: string): never {
    throw new UnsupportedExpressionError(this.parameter, this.expression, why);
  }

  peek(): Token | undefined {
    return this.tokens[this.at];
  }

  done(): boolean {
    return this.at >= this.tokens.length;
  }

  next(what: string): Token {
    const t = this.tokens[this.at];
    if (t === undefined) this.fail(`it ends where ${what} was expected`);
    this.at++;
    return t;
  }

  punct(text: string): void {
    const t = this.next(`"${text}"`);
    if (t.kind !== "punct" || t.text !== text) this.fail(`"${t.text}" where "${text}" was expected`);
  }

  /** `#a(.#b)*`, resolved to attribute names. */
  path(): string[] {
    const segments: string[] = [];
    for (;;) {
      const t = this.next("an attribute path (#name)");
      if (t.kind !== "name") this.fail(`"${t.text}" where an attribute path of #name placeholders was expected`);
      segments.push(this.scope.name(t.text));
      const p = this.peek();
      if (p?.kind !== "punct" || p.text !== ".") return segments;
      this.at++;
    }
  }

  value(): AttributeValue {
    const t = this.next("a :value placeholder");
    if (t.kind !== "value") this.fail(`"${t.text}" where a :value placeholder was expected`);
    return this.scope.value(t.text);
  }

  end(): void {
    const t = this.peek();
    if (t !== undefined) this.fail(`"${t.text}" after a complete expression (AND, OR and further terms are not supported)`);
  }
}

/** The value at `path` of `item`: members of maps only. */
function valueAt(item: Item | undefined, path: readonly string[]): AttributeValue | undefined {
  let current: AttributeValue | undefined = item === undefined ? undefined : { M: item };
  for (const segment of path) {
    const map: Record<string, AttributeValue> | undefined = current?.M;
    current = map?.[segment];
    if (current === undefined) return undefined;
  }
  return current;
}

/** Parse a condition into a test of the stored item (`undefined`: there is none). */
function parseCondition(expression: string, scope: Placeholders): (item: Item | undefined) => boolean {
  const p = new Parser("ConditionExpression", expression, scope);
  const first = p.peek();
  if (first?.kind === "word") {
    p.next("a function");
    const fn = first.text;
    if (fn !== "attribute_exists" && fn !== "attribute_not_exists") p.fail(`the function ${fn} is not supported (only attribute_exists and attribute_not_exists)`);
    p.punct("(");
    const path = p.path();
    p.punct(")");
    p.end();
    return fn === "attribute_exists" ? (item) => valueAt(item, path) !== undefined : (item) => valueAt(item, path) === undefined;
  }
  const path = p.path();
  const op = p.next("a comparator");
  if (op.kind !== "punct" || op.text !== "=") p.fail(`the comparator "${op.text}" is not supported (only =)`);
  const expected = p.value();
  p.end();
  return (item) => sameValue(valueAt(item, path), expected);
}

/** Parse `<partition key> = :value`; returns the value. */
function parseKeyCondition(expression: string, scope: Placeholders, partitionKey: string): AttributeValue {
  const p = new Parser("KeyConditionExpression", expression, scope);
  const path = p.path();
  if (path.length !== 1 || path[0] !== partitionKey) p.fail(`only the partition key ${partitionKey} may be compared, not ${path.join(".")}`);
  const op = p.next("=");
  if (op.kind !== "punct" || op.text !== "=") p.fail(`the comparator "${op.text}" is not supported (only =)`);
  const value = p.value();
  p.end();
  return value;
}

type Action = { kind: "SET"; path: string[]; value: AttributeValue } | { kind: "REMOVE"; path: string[] } | { kind: "ADD"; path: string[]; value: AttributeValue };

/** Parse an update into a function that applies it to an item in place. */
function parseUpdate(expression: string, scope: Placeholders, keyAttributes: readonly string[]): (item: Item) => void {
  const p = new Parser("UpdateExpression", expression, scope);
  const actions: Action[] = [];
  const seen = new Set<string>();
  if (p.done()) p.fail("it is empty");
  while (!p.done()) {
    const keyword = p.next("SET, REMOVE or ADD");
    const clause = keyword.text.toUpperCase();
    if (keyword.kind !== "word" || (clause !== "SET" && clause !== "REMOVE" && clause !== "ADD")) p.fail(`"${keyword.text}" where SET, REMOVE or ADD was expected (DELETE is not supported)`);
    if (seen.has(clause)) p.fail(`the ${clause} clause appears twice`);
    seen.add(clause);
    for (;;) {
      const path = p.path();
      if (clause === "SET") {
        const op = p.next("=");
        if (op.kind !== "punct" || op.text !== "=") p.fail(`"${op.text}" after a SET path, where "=" was expected`);
        const t = p.peek();
        if (t?.kind !== "value") p.fail(`SET to ${t === undefined ? "nothing" : `"${t.text}"`}: only SET <path> = :value is supported (no functions, no arithmetic)`);
        actions.push({ kind: "SET", path, value: p.value() });
      } else if (clause === "ADD") {
        actions.push({ kind: "ADD", path, value: p.value() });
      } else {
        actions.push({ kind: "REMOVE", path });
      }
      const t = p.peek();
      if (t?.kind === "punct" && t.text === ",") {
        p.next(",");
        continue;
      }
      if (t !== undefined && t.kind !== "word") p.fail(`"${t.text}" after an action, where "," or the next clause was expected`);
      break;
    }
  }
  for (const a of actions) {
    if (a.kind === "ADD" && a.value.N === undefined) p.fail("ADD of anything but a number (N) is not supported");
    if (keyAttributes.includes(a.path[0] ?? "")) throw validation(`Cannot update attribute ${a.path[0] ?? ""}. This attribute is part of the key`);
    if (a.kind === "ADD" && a.path.length > 1) throw validation(`ADD is supported for top-level attributes only, not ${a.path.join(".")}`);
  }
  for (const [i, a] of actions.entries()) {
    for (const b of actions.slice(i + 1)) {
      const n = Math.min(a.path.length, b.path.length);
      if (a.path.slice(0, n).join("\u0000") === b.path.slice(0, n).join("\u0000")) throw validation(`Two document paths overlap with each other: ${a.path.join(".")} and ${b.path.join(".")}`);
    }
  }
  return (item) => {
    for (const a of actions) {
      const parentPath = a.path.slice(0, -1);
      const last = a.path[a.path.length - 1] ?? "";
      const parent = parentPath.length === 0 ? item : valueAt(item, parentPath)?.M;
      if (parent === undefined) throw validation(`The document path provided in the update expression is invalid for update: ${a.path.join(".")}`);
      switch (a.kind) {
        case "SET":
          parent[last] = structuredClone(a.value);
          break;
        case "REMOVE":
          Reflect.deleteProperty(parent, last);
          break;
        case "ADD": {
          const current = parent[last];
          if (current === undefined) parent[last] = structuredClone(a.value);
          else if (current.N === undefined) throw validation(`An operand in the update expression has an incorrect data type: ADD to ${a.path.join(".")}, which is not a number`);
          else parent[last] = { N: String(Number(current.N) + Number(a.value.N)) };
          break;
        }
      }
    }
  };
}
