/**
 * How the query families call AWS: every call goes through {@link awsCall}, so that an AWS error always reaches
 * the caller as one of the SDK's errors (throttling after the AWS SDK's own retries as `ThrottledError`, with
 * the AWS error as `cause`); every list is read through {@link allPages}, so that no caller forgets a
 * `nextToken`; lookups are shared through a {@link LookupCache}; and many independent calls run with a bounded
 * {@link mapLimit} so that 500 machines do not open 500 sockets at once.
 *
 * There is no retry loop here on purpose: the AWS SDK clients already retry throttling and transient errors
 * with backoff, and a second loop on top would multiply the attempts.
 */
import { BackendError, fromAwsError } from "../errors";

/** Options every query takes. */
export interface CallOptions {
  /** Cancels the calls still to be sent or in flight; the query then rejects with `QueryCancelledError`. */
  readonly signal?: AbortSignal;
}

/**
 * Runs one AWS call and maps what it throws with `fromAwsError`, naming the operation. The AWS SDK has already
 * retried by the time an error arrives here, so the error is final.
 */
export async function awsCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw fromAwsError(operation, error);
  }
}

/**
 * Every page of a paginated AWS operation: `fetch` gets `undefined` first, then each `nextToken` the previous
 * page returned, until a page has none. A service that returns the same token twice would make this loop
 * forever, so that is reported as a `BackendError` instead.
 */
export async function* allPages<Page extends { readonly nextToken?: string | undefined }>(
  operation: string,
  fetch: (nextToken: string | undefined) => Promise<Page>,
): AsyncGenerator<Page, void, undefined> {
  const seen = new Set<string>();
  let token: string | undefined;
  for (;;) {
    const current = token;
    const page = await awsCall(operation, () => fetch(current));
    yield page;
    const next = page.nextToken;
    if (next === undefined || next === "") return;
    if (seen.has(next)) throw new BackendError(operation, `returned the nextToken ${JSON.stringify(next)} twice`, { cause: page });
    seen.add(next);
    token = next;
  }
}

/** The items of every page of a paginated operation, in order (see {@link allPages}). */
export async function collectPages<Page extends { readonly nextToken?: string | undefined }, Item>(
  operation: string,
  fetch: (nextToken: string | undefined) => Promise<Page>,
  items: (page: Page) => readonly Item[] | undefined,
): Promise<Item[]> {
  const all: Item[] = [];
  for await (const page of allPages(operation, fetch)) all.push(...(items(page) ?? []));
  return all;
}

/**
 * Lookups that are worth doing once per client: the promise is stored, so concurrent callers share one
 * in-flight call; a lookup that fails is forgotten, so the next caller tries again instead of inheriting a
 * transient error forever.
 */
export class LookupCache<V> {
  private readonly entries = new Map<string, Promise<V>>();

  /** The cached value for `key`, or the result of `load()`, which is then cached unless it rejects. */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const pending = Promise.resolve().then(load);
    this.entries.set(key, pending);
    pending.catch(() => {
      if (this.entries.get(key) === pending) this.entries.delete(key);
    });
    return pending;
  }

  /** Forgets every entry (after the twin was redeployed, for example). */
  clear(): void {
    this.entries.clear();
  }
}

/**
 * `fn` over `items` with at most `limit` calls in flight, results in the order of `items`. The first rejection
 * rejects the whole (calls already in flight still finish, their results are dropped).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for await (const [index, result] of orderedLimit(items, limit, fn)) results[index] = result;
  return results;
}

/**
 * `fn` over `items` with at most `limit` calls in flight, yielded in the order of `items` as soon as each and
 * all before it are done: a stream that keeps several calls busy without reordering what it yields. It runs at
 * most `2 x limit` items ahead of the consumer, so a slow consumer does not make it buffer everything. When the
 * consumer stops early (or an item fails), no further item is started.
 */
export async function* orderedLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): AsyncGenerator<[number, R], void, undefined> {
  const width = Math.max(1, Math.floor(limit));
  const started = new Map<number, Promise<R>>();
  let next = 0;
  let consumed = 0;
  let running = 0;
  let stopped = false;
  const start = (): void => {
    while (!stopped && next < items.length && running < width && next - consumed < 2 * width) {
      const index = next++;
      running++;
      const settled = fn(items[index] as T, index).finally(() => {
        running--;
        start();
      });
      // A rejection is observed when its turn comes; until then it must not count as unhandled.
      settled.catch(() => undefined);
      started.set(index, settled);
    }
  };
  try {
    for (let index = 0; index < items.length; index++) {
      start();
      const promise = started.get(index);
      if (promise === undefined) throw new Error(`orderedLimit: item ${index} was never started`);
      const result = await promise;
      started.delete(index);
      consumed = index + 1;
      yield [index, result];
    }
  } finally {
    stopped = true;
  }
}

/** `items` in consecutive chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
