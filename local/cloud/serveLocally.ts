/**
 * How a real AWS SDK v3 client is made to answer from this process: a middleware at the `initialize` step, with
 * high priority, that computes the command's output locally and never calls `next`. Everything after it (input
 * serialization, endpoint resolution and discovery, retries, signing, the HTTP handler) is therefore never reached:
 * no credentials are resolved, no endpoint is looked up, no socket is opened. The handlers keep their real clients
 * and commands, so what they send is exactly what they would send to AWS.
 */
import { randomUUID } from "node:crypto";
import type { HandlerExecutionContext, InitializeHandlerArguments, InitializeHandlerOutput, MetadataBearer, MiddlewareStack } from "@smithy/types";

/** A client whose middleware stack can take the local answer (every AWS SDK v3 client). */
export interface LocallyServedClient<I extends object, O extends MetadataBearer> {
  readonly middlewareStack: MiddlewareStack<I, O>;
}

/**
 * Answers a command: `command` is the operation's name without the `Command` suffix (`WriteRecords`), `input` what
 * the caller passed. Throw the service's exception class to fail the call as the service would.
 */
export type LocalAnswer<I, O> = (command: string, input: I) => O | Promise<O>;

/** The static credentials every local client gets: never used (signing is never reached), but never looked up either. */
export const LOCAL_CREDENTIALS = { accessKeyId: "LOCALACCESSKEY", secretAccessKey: "local-secret-never-sent" } as const;

/** The name of the middleware that answers locally for `service`: other middleware can be placed relative to it. */
export function localMiddlewareName(service: string): string {
  return `localAws${service}`;
}

/** Metadata of a successful local response, as the SDK fills it in for a real one. */
export function localMetadata(): MetadataBearer["$metadata"] {
  return { httpStatusCode: 200, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 };
}

/**
 * Make `client` answer every command from `answer` instead of AWS (see the module comment); returns the client.
 *
 * @throws Error when the client already answers locally (a second answer would never be reached).
 */
export function serveLocally<C extends LocallyServedClient<I, O>, I extends object, O extends MetadataBearer>(client: C, service: string, answer: LocalAnswer<I, O>): C {
  const name = localMiddlewareName(service);
  client.middlewareStack.add(
    (_next, context: HandlerExecutionContext) =>
      async (args: InitializeHandlerArguments<I>): Promise<InitializeHandlerOutput<O>> => {
        const commandName = context.commandName ?? "";
        // the SDK names commands `<Operation>Command`; the services' APIs name the operation
        const operation = commandName.endsWith("Command") ? commandName.slice(0, -"Command".length) : commandName;
        const output = await answer(operation, args.input);
        return { output, response: { statusCode: 200, headers: {}, body: undefined } };
      },
    { step: "initialize", priority: "high", name, override: false },
  );
  return client;
}

/** The error for a command the local service does not implement: it names the service and the command. */
export function unknownCommand(service: string, command: string, implemented: readonly string[]): Error {
  return new Error(`the local ${service} does not implement ${command === "" ? "this command (no command name)" : command}; it implements ${implemented.join(", ")}`);
}
