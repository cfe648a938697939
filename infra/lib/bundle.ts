/**
 * Bundles a Lambda handler with esbuild while the program runs, so `pulumi up` needs no build step: the
 * handler's TypeScript, the SDK (from its sources) and its npm dependencies become one CommonJS file for the
 * Lambda runtime. Files that belong beside the code (the factory inventory) are added to the archive; the
 * archive's content, and with it the function's code hash, changes only when they do.
 */
import * as crypto from "node:crypto";
import * as path from "node:path";
import { buildSync } from "esbuild";
import * as pulumi from "@pulumi/pulumi";

/** The Lambda runtime the bundles target (see ARCHITECTURE.md: Node 20 on Lambda is deprecated). */
export const LAMBDA_RUNTIME = "nodejs24.x";
/** esbuild's target: Node 22 syntax runs on the nodejs24.x runtime and on nodejs22.x, should we need to fall back. */
const TARGET = "node22";

/** A bundled handler: its code, and a digest of everything in the archive. */
export interface Bundle {
  readonly code: string;
  readonly files: Readonly<Record<string, string>>;
  readonly sha256: string;
}

const cache = new Map<string, string>();

/**
 * Bundle `entry` (a path relative to the repository root) and add `files` (name -> text) beside it.
 *
 * @throws Error with esbuild's messages when the handler does not compile.
 */
export function bundleHandler(entry: string, files: Readonly<Record<string, string>> = {}): Bundle {
  const root = path.resolve(__dirname, "..", "..");
  const absolute = path.resolve(root, entry);
  let code = cache.get(absolute);
  if (code === undefined) {
    let result: ReturnType<typeof buildSync>;
    try {
      result = buildSync({
        entryPoints: [absolute],
        bundle: true,
        platform: "node",
        target: TARGET,
        format: "cjs",
        conditions: ["@smart-factory/source"],
        minify: true,
        // Everything is bundled (pinned by our lockfile), rather than whatever AWS SDK the runtime ships.
        external: [],
        legalComments: "none",
        write: false,
        logLevel: "silent",
        absWorkingDir: root,
      });
    } catch (error) {
      const messages = (error as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }).errors ?? [];
      const detail = messages.map((m) => (m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ${m.text}` : m.text)).join("; ");
      throw new Error(`cannot bundle ${entry}: ${detail || String(error)}`, { cause: error });
    }
    const output = result.outputFiles?.[0];
    if (output === undefined) throw new Error(`bundling ${entry} produced no output`);
    code = output.text;
    cache.set(absolute, code);
  }
  const digest = crypto.createHash("sha256").update(code);
  for (const name of Object.keys(files).sort()) digest.update(`\0${name}\0${files[name] ?? ""}`);
  return { code, files, sha256: digest.digest("base64") };
}

/** The bundle as a Lambda archive: `index.js` (handler `index.handler`) and the extra files. */
export function bundleArchive(bundle: Bundle): pulumi.asset.AssetArchive {
  const assets: Record<string, pulumi.asset.Asset> = { "index.js": new pulumi.asset.StringAsset(bundle.code) };
  for (const [name, text] of Object.entries(bundle.files)) assets[name] = new pulumi.asset.StringAsset(text);
  return new pulumi.asset.AssetArchive(assets);
}
