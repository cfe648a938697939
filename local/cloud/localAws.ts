/**
 * Local stand-ins for the AWS services the cloud path's handlers call, each behind a real AWS SDK v3 client whose
 * requests never leave the process (`serveLocally`): Timestream (`localTimestream.ts`), DynamoDB
 * (`localDynamoDb.ts`), and here S3 (`PutObject`: the dead letters), Firehose (`PutRecordBatch` from the enrichment
 * handler, `PutRecord` from the state rule's action: the lake) and SNS (`Publish`: the detector's notifications).
 *
 * Each implements exactly what the handlers use, with the checks the real service makes that the handlers rely on
 * (unknown bucket, stream or topic; batch limits; subject rules). Any other command throws an Error naming the
 * service and the command.
 */
import { randomUUID } from "node:crypto";
import {
  FirehoseClient,
  InvalidArgumentException,
  ResourceNotFoundException as FirehoseResourceNotFound,
  type PutRecordBatchCommandInput,
  type PutRecordBatchCommandOutput,
  type PutRecordCommandInput,
  type PutRecordCommandOutput,
  type ServiceInputTypes as FirehoseInput,
  type ServiceOutputTypes as FirehoseOutput,
} from "@aws-sdk/client-firehose";
import { NoSuchBucket, S3Client, S3ServiceException, type PutObjectCommandInput, type PutObjectCommandOutput, type ServiceInputTypes as S3Input, type ServiceOutputTypes as S3Output } from "@aws-sdk/client-s3";
import {
  InvalidParameterException,
  NotFoundException,
  SNSClient,
  type PublishCommandInput,
  type PublishCommandOutput,
  type ServiceInputTypes as SnsInput,
  type ServiceOutputTypes as SnsOutput,
} from "@aws-sdk/client-sns";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { TimestreamWriteClient } from "@aws-sdk/client-timestream-write";
import { LocalDynamoDb, type TableSpec } from "./localDynamoDb";
import { LocalTimestream, type RecordListener } from "./localTimestream";
import { LOCAL_CREDENTIALS, localMetadata, serveLocally, unknownCommand } from "./serveLocally";

// ---------------------------------------------------------------------------------------------- S3

/** One object as stored. */
export interface StoredObject {
  readonly bucket: string;
  readonly key: string;
  readonly body: Buffer;
  readonly contentType: string | null;
  /** When it was written (the local clock, epoch ms). */
  readonly storedAt: number;
}

/** S3's `PutObject`, in memory: the buckets are fixed, a key written again is replaced (S3 without versioning as seen by a reader). */
export class LocalS3 {
  private readonly objects = new Map<string, StoredObject>();

  constructor(
    private readonly buckets: readonly string[],
    private readonly clock: () => number,
  ) {}

  /** Make `client` store here; returns it. */
  attach(client: S3Client): S3Client {
    return serveLocally<S3Client, S3Input, S3Output>(client, "S3", (command, input) => {
      if (command === "PutObject") return this.putObject(input as PutObjectCommandInput);
      throw unknownCommand("S3", command, ["PutObject"]);
    });
  }

  /** A client in `region` that stores here, with static dummy credentials. */
  client(region: string): S3Client {
    return this.attach(new S3Client({ region, credentials: LOCAL_CREDENTIALS }));
  }

  /** The objects of `bucket` by key; without `bucket`, every object by `<bucket>/<key>`. */
  all(bucket?: string): Map<string, StoredObject> {
    const out = new Map<string, StoredObject>();
    for (const o of this.objects.values()) if (bucket === undefined || o.bucket === bucket) out.set(bucket === undefined ? `${o.bucket}/${o.key}` : o.key, o);
    return out;
  }

  /** How many objects `bucket` holds. */
  count(bucket: string): number {
    let n = 0;
    for (const o of this.objects.values()) if (o.bucket === bucket) n++;
    return n;
  }

  /** `PutObject`. */
  putObject(input: PutObjectCommandInput): PutObjectCommandOutput {
    const bucket = input.Bucket ?? "";
    const key = input.Key ?? "";
    if (!this.buckets.includes(bucket)) throw new NoSuchBucket({ message: `bucket ${JSON.stringify(bucket)} does not exist`, $metadata: {} });
    if (key === "" || Buffer.byteLength(key) > 1024) {
      throw new S3ServiceException({ name: "KeyTooLongError", $fault: "client", message: `key ${JSON.stringify(key.slice(0, 80))} must hold 1 to 1024 bytes`, $metadata: {} });
    }
    const body = input.Body;
    let bytes: Buffer;
    if (typeof body === "string") bytes = Buffer.from(body, "utf8");
    else if (body instanceof Uint8Array) bytes = Buffer.from(body);
    else if (body === undefined) bytes = Buffer.alloc(0);
    else throw new Error(`the local S3 takes a string or bytes as Body of ${bucket}/${key}, not ${Object.prototype.toString.call(body)}`);
    this.objects.set(`${bucket}\u0000${key}`, { bucket, key, body: bytes, contentType: input.ContentType ?? null, storedAt: this.clock() });
    return { $metadata: localMetadata(), ETag: `"${randomUUID().replace(/-/g, "")}"` };
  }
}

// ---------------------------------------------------------------------------------------------- Firehose

/** Firehose's limit on the records of one `PutRecordBatch` call. */
export const MAX_FIREHOSE_RECORDS_PER_CALL = 500;
/** Firehose's limit on one record (before base64): 1,000 KiB. */
export const MAX_FIREHOSE_RECORD_BYTES = 1000 * 1024;

/** The rows a delivery stream received: each record split into its newline-delimited JSON objects (the lake's de-aggregation). */
export interface StreamRows {
  /** The newest rows, at most the stream's limit, oldest first. */
  readonly rows: readonly unknown[];
  /** Every row received, the forgotten ones included. */
  readonly total: number;
}

/** Firehose's `PutRecordBatch` and `PutRecord`, in memory: the streams are fixed, each keeps its newest rows. */
export class LocalFirehose {
  private readonly streams = new Map<string, { rows: unknown[]; total: number }>();

  constructor(
    streams: readonly string[],
    /** Rows kept per stream (the oldest are forgotten); default 100,000. */
    private readonly maxRows = 100_000,
  ) {
    for (const s of streams) this.streams.set(s, { rows: [], total: 0 });
  }

  /** Make `client` deliver here; returns it. */
  attach(client: FirehoseClient): FirehoseClient {
    return serveLocally<FirehoseClient, FirehoseInput, FirehoseOutput>(client, "Firehose", (command, input) => {
      if (command === "PutRecordBatch") return this.putRecordBatch(input as PutRecordBatchCommandInput);
      if (command === "PutRecord") return this.putRecord(input as PutRecordCommandInput);
      throw unknownCommand("Firehose", command, ["PutRecordBatch", "PutRecord"]);
    });
  }

  /** A client in `region` that delivers here, with static dummy credentials. */
  client(region: string): FirehoseClient {
    return this.attach(new FirehoseClient({ region, credentials: LOCAL_CREDENTIALS }));
  }

  /** What `stream` received. */
  rows(stream: string): StreamRows {
    const s = this.streams.get(stream);
    return { rows: [...(s?.rows ?? [])], total: s?.total ?? 0 };
  }

  /** `PutRecordBatch`: every record is taken (the local stream never fails a record). */
  putRecordBatch(input: PutRecordBatchCommandInput): PutRecordBatchCommandOutput {
    const stream = this.stream(input.DeliveryStreamName);
    const records = input.Records ?? [];
    if (records.length === 0 || records.length > MAX_FIREHOSE_RECORDS_PER_CALL) {
      throw new InvalidArgumentException({ message: `Records holds ${records.length} records: from 1 to ${MAX_FIREHOSE_RECORDS_PER_CALL} are allowed`, $metadata: {} });
    }
    for (const r of records) this.take(stream, r.Data);
    return { $metadata: localMetadata(), FailedPutCount: 0, Encrypted: false, RequestResponses: records.map(() => ({ RecordId: randomUUID() })) };
  }

  /** `PutRecord` (the state rule's `firehose` action, `batchMode` false). */
  putRecord(input: PutRecordCommandInput): PutRecordCommandOutput {
    this.take(this.stream(input.DeliveryStreamName), input.Record?.Data);
    return { $metadata: localMetadata(), RecordId: randomUUID(), Encrypted: false };
  }

  private stream(name: string | undefined): { rows: unknown[]; total: number } {
    const s = this.streams.get(name ?? "");
    if (s === undefined) throw new FirehoseResourceNotFound({ message: `delivery stream ${JSON.stringify(name)} does not exist`, $metadata: {} });
    return s;
  }

  private take(stream: { rows: unknown[]; total: number }, data: Uint8Array | undefined): void {
    if (data === undefined || data.byteLength === 0 || data.byteLength > MAX_FIREHOSE_RECORD_BYTES) {
      throw new InvalidArgumentException({ message: `a record's Data holds ${data?.byteLength ?? 0} bytes: from 1 to ${MAX_FIREHOSE_RECORD_BYTES} are allowed`, $metadata: {} });
    }
    for (const line of Buffer.from(data).toString("utf8").split("\n")) {
      if (line.trim() === "") continue;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        row = line; // the lake's de-aggregation would send it to its errors prefix; kept as text to show it
      }
      stream.rows.push(row);
      stream.total++;
    }
    if (stream.rows.length > this.maxRows) stream.rows.splice(0, stream.rows.length - this.maxRows);
  }
}

// ---------------------------------------------------------------------------------------------- SNS

/** One message published to a topic. */
export interface PublishedMessage {
  readonly messageId: string;
  readonly topicArn: string;
  readonly subject: string | null;
  readonly message: string;
  /** String attributes by name (the detector sends only strings). */
  readonly attributes: Readonly<Record<string, string>>;
  /** When it was published (the local clock, epoch ms). */
  readonly at: number;
}

/** SNS's subject limit: fewer than 100 characters. */
export const MAX_SNS_SUBJECT_LENGTH = 99;

/** SNS's `Publish`, in memory: the topics are fixed; a subject SNS would refuse is refused. */
export class LocalSns {
  private readonly published: PublishedMessage[] = [];
  private readonly listeners: ((message: PublishedMessage) => void)[] = [];

  constructor(
    private readonly topics: readonly string[],
    private readonly clock: () => number,
  ) {}

  /** Make `client` publish here; returns it. */
  attach(client: SNSClient): SNSClient {
    return serveLocally<SNSClient, SnsInput, SnsOutput>(client, "SNS", (command, input) => {
      if (command === "Publish") return this.publish(input as PublishCommandInput);
      throw unknownCommand("SNS", command, ["Publish"]);
    });
  }

  /** A client in `region` that publishes here, with static dummy credentials. */
  client(region: string): SNSClient {
    return this.attach(new SNSClient({ region, credentials: LOCAL_CREDENTIALS }));
  }

  /** Call `listener` with every message published from now on. */
  subscribe(listener: (message: PublishedMessage) => void): void {
    this.listeners.push(listener);
  }

  /** Every message published, oldest first. */
  all(): PublishedMessage[] {
    return [...this.published];
  }

  /** How many messages were published. */
  count(): number {
    return this.published.length;
  }

  /** `Publish`. */
  publish(input: PublishCommandInput): PublishCommandOutput {
    const topicArn = input.TopicArn ?? "";
    if (input.TargetArn !== undefined || input.PhoneNumber !== undefined) {
      throw new Error(`the local SNS publishes to topics only, not to ${input.TargetArn ?? input.PhoneNumber ?? ""}`);
    }
    if (!this.topics.includes(topicArn)) throw new NotFoundException({ message: `topic ${JSON.stringify(topicArn)} does not exist`, $metadata: {} });
    const message = input.Message ?? "";
    if (message === "") throw new InvalidParameterException({ message: "Message must not be empty", $metadata: {} });
    const subject = input.Subject ?? null;
    if (subject !== null && (subject.length === 0 || subject.length > MAX_SNS_SUBJECT_LENGTH || !/^[\x20-\x7e]+$/.test(subject))) {
      throw new InvalidParameterException({ message: `Subject ${JSON.stringify(subject)} must be 1 to ${MAX_SNS_SUBJECT_LENGTH} printable ASCII characters`, $metadata: {} });
    }
    const attributes: Record<string, string> = {};
    for (const [name, value] of Object.entries(input.MessageAttributes ?? {})) {
      if (value.DataType !== "String" || value.StringValue === undefined) throw new Error(`the local SNS takes String message attributes only; ${name} is ${value.DataType}`);
      attributes[name] = value.StringValue;
    }
    const published: PublishedMessage = { messageId: randomUUID(), topicArn, subject, message, attributes, at: this.clock() };
    this.published.push(published);
    for (const listener of this.listeners) listener(published);
    return { $metadata: localMetadata(), MessageId: published.messageId };
  }
}

// ---------------------------------------------------------------------------------------------- all of them

/** What exists in the local account: the names the handlers are configured with. */
export interface LocalAwsOptions {
  readonly region: string;
  readonly clock: () => number;
  /** Timestream `database` -> its tables. */
  readonly timestreamTables: Readonly<Record<string, readonly string[]>>;
  readonly buckets: readonly string[];
  readonly deliveryStreams: readonly string[];
  readonly dynamoDbTables: readonly TableSpec[];
  readonly topicArns: readonly string[];
  /** See `LocalTimestreamOptions.maxRecords`. */
  readonly maxTelemetryRecords?: number;
  readonly onTelemetryRecord?: RecordListener;
}

/** The local services and the real clients that reach them. */
export interface LocalAws {
  readonly timestream: LocalTimestream;
  readonly s3: LocalS3;
  readonly firehose: LocalFirehose;
  readonly dynamodb: LocalDynamoDb;
  readonly sns: LocalSns;
  readonly clients: {
    readonly timestream: TimestreamWriteClient;
    readonly s3: S3Client;
    readonly firehose: FirehoseClient;
    readonly dynamodb: DynamoDBClient;
    readonly sns: SNSClient;
  };
}

/** Build the local services and one client of each, in `options.region`, with static dummy credentials. */
export function createLocalAws(options: LocalAwsOptions): LocalAws {
  const timestream = new LocalTimestream({
    tables: options.timestreamTables,
    ...(options.maxTelemetryRecords === undefined ? {} : { maxRecords: options.maxTelemetryRecords }),
    ...(options.onTelemetryRecord === undefined ? {} : { onRecord: options.onTelemetryRecord }),
  });
  const s3 = new LocalS3(options.buckets, options.clock);
  const firehose = new LocalFirehose(options.deliveryStreams);
  const dynamodb = new LocalDynamoDb(options.dynamoDbTables);
  const sns = new LocalSns(options.topicArns, options.clock);
  const region = options.region;
  return {
    timestream,
    s3,
    firehose,
    dynamodb,
    sns,
    clients: { timestream: timestream.client(region), s3: s3.client(region), firehose: firehose.client(region), dynamodb: dynamodb.client(region), sns: sns.client(region) },
  };
}
