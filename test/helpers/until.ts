/** Sleep `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Wait until `condition` holds, checking every `pollMs`; fail naming `what` after `timeoutMs`. The way a test waits
 * for something to happen: as long as it takes and no longer, where a fixed sleep would be too short on a busy
 * machine and too long on an idle one.
 */
export async function until(what: string, condition: () => boolean, timeoutMs = 15_000, pollMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(pollMs);
  }
}
