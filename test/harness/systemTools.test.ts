import { strict as assert } from "node:assert";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Teardown } from "../helpers/teardown";
import { ensureSystemTools, installCommand, installPlan, locateSystemTool, MissingSystemToolsError, NO_INSTALL_VARIABLE } from "./systemTools";

/** Write an executable shell script (it sets its own PATH: the tests hand the code under test a bare one). */
function script(file: string, body: string): string {
  writeFileSync(file, `#!/bin/sh\nPATH=/usr/bin:/bin\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** A stand-in for faketime that prints a version as the real one does. */
const FAKETIME = 'echo "faketime: Version 0.9.10"';

/**
 * A stand-in for apt-get: records each call, fails `install` until `update` has run (a fresh image has no package
 * lists), and then "installs" faketime into `bin`.
 */
function fakeAptGet(bin: string, log: string): void {
  script(join(bin, "apt-get"), `
echo "$*" >> ${log}
case "$1" in
  update) touch ${log}.lists ;;
  install)
    [ -f ${log}.lists ] || { echo "E: Unable to locate package faketime" >&2; exit 100; }
    printf '#!/bin/sh\\n${FAKETIME}\\n' > ${bin}/faketime && chmod 755 ${bin}/faketime ;;
esac`);
}

describe("test harness: the programs the tests start", () => {
  const teardown = new Teardown();
  let bin: string;

  beforeEach(() => {
    bin = join(teardown.directory("sf-system-tools-"), "bin");
    mkdirSync(bin);
  });
  afterEach(() => teardown.run());

  it("finds a program on PATH only when it runs and prints its version", () => {
    assert.equal(locateSystemTool("faketime", { PATH: bin }), undefined);
    script(join(bin, "faketime"), "echo something else");
    assert.equal(locateSystemTool("faketime", { PATH: bin }), undefined, "a binary that does not print its version is not it");
    script(join(bin, "faketime"), FAKETIME);
    assert.equal(locateSystemTool("faketime", { PATH: bin }), join(bin, "faketime"));
  });

  it("takes the binary its variable names, and refuses a variable that names no working one, naming both", () => {
    const chrome = script(join(bin, "my-chrome"), 'echo "Google Chrome 150.0.1"');
    assert.equal(locateSystemTool("chromium", { PATH: "", CHROMIUM_PATH: chrome }), chrome);
    assert.throws(() => locateSystemTool("chromium", { PATH: bin, CHROMIUM_PATH: "/nowhere/chromium" }), /^BadToolPathError: CHROMIUM_PATH is "\/nowhere\/chromium", which is not a working Chromium/);
  });

  it("stops with one message naming every missing program, what it is for, and the command that installs them", () => {
    fakeAptGet(bin, join(bin, "apt.log"));
    const context = { env: { PATH: bin, [NO_INSTALL_VARIABLE]: "1" }, platform: "linux" as const, uid: 1000 };
    assert.throws(
      () => ensureSystemTools(["openssl", "chromium", "faketime"], context),
      (error: unknown) => {
        assert.ok(error instanceof MissingSystemToolsError);
        assert.deepEqual(error.tools, ["openssl", "chromium", "faketime"]);
        assert.equal(error.stack, `MissingSystemToolsError: ${error.message}`, "no stack trace buries the message");
        assert.equal(error.message, [
          "these tests need programs this machine lacks:",
          "  - openssl: makes the throw-away certificates of the test brokers and PLCs",
          "  - Chromium: the browser the web view's test drives",
          "  - faketime: moves the clock of the date check (npm run test:dates) a year ahead and back",
          `they were not installed: ${NO_INSTALL_VARIABLE}=1.`,
          "Install them with:",
          "  sudo apt-get install -y --no-install-recommends openssl chromium faketime",
          "or name a binary you have with CHROMIUM_PATH=/path/to/chromium; then run the tests again.",
        ].join("\n"));
        return true;
      },
    );
    assert.equal(existsSync(join(bin, "apt.log")), false, "nothing was installed");
  });

  it("says why it installs nothing: not root without passwordless sudo, or no apt-get", () => {
    fakeAptGet(bin, join(bin, "apt.log"));
    const user = installPlan({ env: { PATH: bin }, platform: "linux", uid: 1000 });
    assert.deepEqual(user, { aptGet: undefined, debian: true, root: false, reason: "this user is not root and there is no sudo" });
    script(join(bin, "sudo"), 'echo "sudo: a password is required" >&2; exit 1');
    assert.equal(installPlan({ env: { PATH: bin }, platform: "linux", uid: 1000 }).reason, "this user is not root and sudo asks for a password");
    script(join(bin, "sudo"), 'shift; exec "$@"'); // passwordless: `sudo -n true` succeeds
    assert.deepEqual(installPlan({ env: { PATH: bin }, platform: "linux", uid: 1000 }).aptGet, ["sudo", "-n", "apt-get"]);
    assert.deepEqual(installPlan({ env: { PATH: bin }, platform: "linux", uid: 0 }).aptGet, ["apt-get"]);
    const mac = installPlan({ env: { PATH: bin }, platform: "darwin", uid: 501 });
    assert.equal(mac.reason, "this is not a Debian or Ubuntu system (no apt-get)");
    assert.equal(installCommand(["mosquitto"], mac), "install mosquitto with your system's package manager (e.g. brew install mosquitto)");
  });

  it("installs what is missing with apt-get as root, running apt-get update when the first attempt fails", () => {
    const log = join(bin, "apt.log");
    fakeAptGet(bin, log);
    const said: string[] = [];
    const found = ensureSystemTools(["faketime"], { env: { PATH: bin }, platform: "linux", uid: 0, log: (line) => said.push(line) });
    assert.equal(found.get("faketime"), join(bin, "faketime"));
    assert.deepEqual(readFileSync(log, "utf8").trim().split("\n"), [
      "install -y -q --no-install-recommends faketime",
      "update -q",
      "install -y -q --no-install-recommends faketime",
    ]);
    assert.deepEqual(said, ["installing faketime with apt-get: moves the clock of the date check (npm run test:dates) a year ahead and back"]);
  });

  it("shows apt-get's last words when installing fails, with the command to try by hand", () => {
    script(join(bin, "apt-get"), 'echo "E: Could not get lock /var/lib/dpkg/lock-frontend" >&2; exit 100');
    assert.throws(
      () => ensureSystemTools(["faketime"], { env: { PATH: bin }, platform: "linux", uid: 0, log: () => undefined }),
      /installing them failed:\n {4}E: Could not get lock \/var\/lib\/dpkg\/lock-frontend\nInstall them with:\n {2}apt-get install -y --no-install-recommends faketime\n/,
    );
  });
});
