/**
 * The UI pages of a real daemon in a real chromium: the rules editor (errors at their line and
 * nothing changed — file, daemon, kernel; a valid edit saved, reloaded and enforced), History and
 * Overview from real kernel events (paging, verdict filter, the "why" and lineage of each row,
 * counts, integrity alarms, the mode switch with confirmation), Learning and Apps without the
 * island script (plain forms), and every page at 1280 and 390 px wide with long paths, names and
 * IPv6 addresses, nothing clipped (screenshots in build/test-artifacts/ui/).
 */
import assert from "node:assert/strict";
import type { AppInfo, StatusInfo } from "../../src/api/types.ts";
import { launchBrowser, screenshot } from "../helpers/browser.ts";
import { startUiDaemon, type UiDaemon, until } from "../helpers/ui_fixture.ts";
import { createNetnsLab } from "../helpers/netns.ts";
import { netclientCopy } from "../helpers/netclient.ts";
import { sha256Of } from "../helpers/daemon.ts";

/** Three rules the editor tests change. */
const RULES = `
[[rule]]
id = "dns"
action = "allow"
direction = "out"
protocol = "udp"
ports = [53]
comment = "name resolution"

[[rule]]
id = "https"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [443]

[[rule]]
id = "block-telnet"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [23]
`;

/** How many stored events `hashwall events ARGS --json` prints (one JSON object per line). */
async function eventCount(f: UiDaemon, args: string[]): Promise<number> {
  const r = await f.daemon.cli(["events", ...args, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l.trim()).length;
}

async function status(f: UiDaemon): Promise<StatusInfo> {
  return await f.json<StatusInfo>(["status"]);
}

Deno.test("Rules page: an invalid edit shows each error at its line and changes nothing; a valid edit reloads", async (t) => {
  await using f = await startUiDaemon({
    mode: "learning",
    binaries: ["probe"],
    rulesExtra: RULES,
    // An app for the new rule's via (its rule-table column), and one granted only when it
    // starts it (only_via, shown on the Apps page); never run here.
    apps: [
      { name: "backup", path: "/usr/bin/true", sha256: await sha256Of("/usr/bin/true") },
      {
        name: "sync",
        path: "/usr/bin/false",
        sha256: await sha256Of("/usr/bin/false"),
        onlyVia: ["backup"],
      },
    ],
  });
  const rulesPath = `${f.configDir}/rules.toml`;
  const before = await Deno.readTextFile(rulesPath);
  await using b = await launchBrowser();
  const page = await b.newPage();
  await f.login(page);
  await page.goto(`${f.url}/rules`);
  assert.equal(await page.locator("[data-test=rules-table] tbody tr").count(), 3);
  assert.equal(await page.textContent('[data-rule="dns"] [data-label=via]'), "—");
  assert.equal(await page.inputValue("[data-test=rules-editor]"), before, "the file as it is");
  const problems = page.locator("[data-test=problem]");

  await t.step("errors are shown at their lines; file, daemon and kernel unchanged", async () => {
    // The broken edit also switches to enforcing: had anything been applied, the kernel would deny.
    const broken = before
      .replace('mode = "learning"', 'mode = "enforcing"')
      .replace('action = "deny"', 'action = "drop"')
      .replace("ports = [443]", "ports = [70000]");
    await page.fill("[data-test=rules-editor]", broken);
    await page.click("[data-test=rules-save]");
    assert.equal(await problems.count(), 2);
    const lines = broken.split("\n");
    const dropLine = lines.findIndex((l) => l.includes('"drop"')) + 1;
    const portLine = lines.findIndex((l) => l.includes("70000")) + 1;
    const shown = await problems.evaluateAll((els) =>
      els.map((e) => Number(e.getAttribute("data-line")))
    );
    assert.deepEqual(shown.sort((x, y) => x - y), [portLine, dropLine].sort((x, y) => x - y));
    // Each message sits under its own source line, which is marked.
    assert.match(
      await page.locator(`li.line-bad[data-line="${dropLine}"]`).textContent() ?? "",
      /action = "drop".*line \d+, column \d+: .*action/s,
    );
    assert.match(
      await page.locator(`li.line-bad[data-line="${portLine}"]`).textContent() ?? "",
      /70000.*line \d+, column \d+: .*65535/s,
    );
    assert.equal(await page.inputValue("[data-test=rules-editor]"), broken, "draft kept");
    await screenshot(page, "rules-error");
    assert.equal(await Deno.readTextFile(rulesPath), before, "file unchanged");
    assert.equal((await status(f)).mode, "learning", "daemon unchanged");
    assert.equal((await f.connect(f.bin.probe)).verdict, "ok", "kernel still learning");

    // A TOML syntax error is located too.
    await page.fill("[data-test=rules-editor]", before + "\n[[rule]\nid = 1\n");
    await page.click("[data-test=rules-save]");
    assert.equal(await problems.count(), 1);
    assert.equal(Number(await problems.getAttribute("data-line")), before.split("\n").length + 1);
    assert.equal(await Deno.readTextFile(rulesPath), before);
  });

  await t.step(
    "a valid edit is saved and reloaded: new rule listed, new mode enforced",
    async () => {
      const logFrom = f.daemon.logs().length;
      const fixed = before.replace('mode = "learning"', 'mode = "enforcing"') +
        '\n[[rule]]\nid = "ssh-out"\naction = "allow"\ndirection = "out"\nprotocol = "tcp"\nports = [22]\n' +
        '\n[[rule]]\nid = "backup-only"\naction = "allow"\ndirection = "out"\nprotocol = "tcp"\n' +
        'ports = [873]\nvia = "backup"\n';
      await page.fill("[data-test=rules-editor]", fixed);
      await page.click("[data-test=rules-save]");
      await page.waitForURL(`${f.url}/rules`);
      assert.match(await page.textContent("[data-test=flash]") ?? "", /Saved and reloaded/);
      assert.equal(await Deno.readTextFile(rulesPath), fixed);
      assert.equal(await page.locator("[data-test=rules-table] tbody tr").count(), 5);
      assert.match(await page.textContent('[data-rule="ssh-out"]') ?? "", /ssh-out/);
      assert.equal(await page.textContent('[data-rule="ssh-out"] [data-label=via]'), "—");
      assert.equal(await page.textContent('[data-rule="backup-only"] [data-label=via]'), "backup");
      await f.daemon.waitForLog(/configuration reloaded/, 5000, logFrom);
      assert.equal((await status(f)).mode, "enforcing");
      assert.equal((await f.connect(f.bin.probe)).verdict, "EPERM", "the kernel enforces now");
      await screenshot(page, "rules");
    },
  );

  await t.step("explain checks its input", async () => {
    await page.fill("input[name=remote]", "not-an-ip");
    await page.fill("input[name=port]", "22");
    await page.click("button[name=explain]");
    assert.match(
      await page.textContent("[data-test=explain-error]") ?? "",
      /remote must be an IP address/,
    );
  });

  await t.step("explain names the deciding rule", async () => {
    await page.fill("input[name=remote]", "192.0.2.1");
    await page.fill("input[name=port]", "22");
    await page.click("button[name=explain]");
    assert.match(
      await page.textContent("[data-test=explain-result]") ?? "",
      /allow.*rule "ssh-out"/s,
    );
  });

  await t.step("explain takes the starting app (via), as rules explain --via does", async () => {
    // The form suggests the apps that via rules name.
    assert.deepEqual(
      await page.locator("#explain-via-apps option").evaluateAll((os) =>
        os.map((o) => o.getAttribute("value"))
      ),
      ["backup"],
    );
    await page.fill("input[name=remote]", "192.0.2.1");
    await page.fill("input[name=port]", "873");
    await page.fill("[data-test=explain-via]", "backup");
    await page.click("button[name=explain]");
    const result = await page.textContent("[data-test=explain-result]") ?? "";
    assert.match(result, /allow.*rule "backup-only"/s);
    assert.match(result, /started \(at any depth\) by a process trusted as "backup"/);
    assert.equal(await page.inputValue("[data-test=explain-via]"), "backup", "kept in the form");
    assert.match(new URL(page.url()).search, /via=backup/, "a shareable link, like the rest");
    await screenshot(page, "rules-explain-via");

    // Without it the via rule is skipped and the default decides.
    await page.fill("[data-test=explain-via]", "");
    await page.click("button[name=explain]");
    const plain = await page.textContent("[data-test=explain-result]") ?? "";
    assert.doesNotMatch(plain, /backup-only/);
    assert.match(plain, /via rules were skipped/);

    // A name that is no app is an error, not a silent "no via rule matched".
    await page.fill("[data-test=explain-via]", "bakup");
    await page.click("button[name=explain]");
    assert.match(
      await page.textContent("[data-test=explain-error]") ?? "",
      /via names no app "bakup"/,
    );
    // An inbound packet has no starting app.
    await page.selectOption("select[name=direction]", "in");
    await page.fill("[data-test=explain-via]", "backup");
    await page.click("button[name=explain]");
    assert.match(await page.textContent("[data-test=explain-error]") ?? "", /only goes with out/);
  });

  await t.step("the Apps page shows an app's only_via", async () => {
    await page.goto(`${f.url}/apps`);
    assert.equal(
      (await page.textContent('[data-app="sync"] [data-test=only-via]'))?.trim(),
      "only via backup",
    );
    assert.equal(await page.locator('[data-app="backup"] [data-test=only-via]').count(), 0);
  });
});

Deno.test("History and Overview from real kernel events; the mode switch asks first", async (t) => {
  await using f = await startUiDaemon({
    mode: "learning",
    binaries: ["noisy", "stranger"],
    files: { "watched/sshd_config": "PermitRootLogin no\n" },
    rulesExtra: (dir) => `[[integrity.watch]]\npath = "${dir}/watched"\nrecursive = true\n`,
  });
  // 60 attempts to 60 closed loopback ports: one report each (dedup is per destination).
  const loop = 'for p in $(seq 40001 40060); do "$0" tcp4 127.0.0.1 "$p" >/dev/null; done';
  const r = await f.daemon.cg.run(["/bin/sh", "-c", loop, f.bin.noisy]);
  assert.equal(r.code, 2, `closed ports refuse (${r.stderr})`);
  assert.equal((await f.connect(f.bin.stranger)).verdict, "ok");
  await until("61 events stored", async () => await eventCount(f, ["--limit", "200"]) === 61);
  await using b = await launchBrowser();
  const page = await b.newPage();
  await f.login(page);

  let denied!: { launcherPid: number };
  await t.step(
    "Overview: mode switch asks for confirmation, then the kernel enforces",
    async () => {
      await page.click("[data-test=mode-switch]");
      assert.match(await page.textContent("main") ?? "", /lose network access/);
      assert.equal((await status(f)).mode, "learning", "nothing yet");
      await screenshot(page, "mode-confirm");
      await page.click("[data-test=mode-confirm]");
      await page.waitForURL(`${f.url}/`);
      assert.equal((await status(f)).mode, "enforcing");
      assert.match(await page.textContent("[data-test=mode]") ?? "", /enforcing/);
      const d = await f.connect(f.bin.stranger, f.port);
      assert.equal(d.verdict, "EPERM");
      denied = d;
      await until(
        "the denial is stored",
        async () => await eventCount(f, ["--verdict", "deny"]) === 1,
      );
    },
  );

  await t.step("Overview: today's counts and an integrity alarm", async () => {
    assert.equal((await f.daemon.cli(["integrity", "baseline", "--config", f.configDir])).code, 0);
    await Deno.writeTextFile(`${f.dir}/watched/sshd_config`, "PermitRootLogin yes\n");
    await until(
      "the change is recorded",
      async () =>
        (await (await page.request.get(`${f.url}/api/integrity`)).json()).changes.length > 0,
    );
    await page.goto(`${f.url}/`);
    const tiles = await page.textContent(".tiles") ?? "";
    assert.match(tiles, /61\s*allowed today/);
    assert.match(tiles, /1\s*denied today/);
    assert.match(tiles, /62\s*unknown apps today/);
    assert.match(await page.textContent("main") ?? "", /sshd_config/, "integrity alarm listed");
    await screenshot(page, "overview");
    await page.goto(`${f.url}/integrity`);
    assert.match(await page.textContent("[data-test=baseline]") ?? "", /changes detected/);
    assert.match(await page.textContent("[data-test=integrity-changes]") ?? "", /sshd_config/);
    await screenshot(page, "integrity");
  });

  await t.step("History pages with Older » and filters by verdict; each row says why", async () => {
    await page.goto(`${f.url}/history`);
    const rows = page.locator("[data-test=events-table] tbody tr");
    assert.equal(await rows.count(), 50);
    await screenshot(page, "history");
    await page.click("[data-test=older]");
    assert.equal(await rows.count(), 12, "62 events: 50 + 12");
    assert.match(page.url(), /before=\d+/);
    await page.goto(`${f.url}/history`);
    await page.selectOption("select[name=verdict]", "deny");
    await page.click("form.filters button[type=submit]");
    assert.equal(await rows.count(), 1);
    const row = await rows.first().textContent() ?? "";
    assert.match(row, /unknown app/);
    assert.match(row, new RegExp(`127\\.0\\.0\\.1:${f.port}`));
    assert.match(row, new RegExp(`launch\\.sh\\(${denied.launcherPid}\\) → stranger\\(\\d+\\)`));
    await page.goto(`${f.url}/history?verdict=allow`);
    assert.match(
      await rows.first().textContent() ?? "",
      /unknown app \(learning mode: allowed, reported\)/,
    );
  });
});

Deno.test("Learning and Apps work without the island script (plain forms)", async () => {
  await using f = await startUiDaemon({
    mode: "learning",
    binaries: ["curlish", "backup"],
    approved: ["backup"],
  });
  assert.equal((await f.connect(f.bin.curlish)).verdict, "ok");
  await until("curlish is on the learning list", async () => {
    const r = await fetch(await f.loginUrl("viewer"), { redirect: "manual" });
    const cookie = r.headers.get("set-cookie")!.split(";")[0];
    const list = await (await fetch(`${f.url}/api/learning`, { headers: { cookie } })).json();
    return list.some((e: { exe: string }) => e.exe === f.bin.curlish);
  });
  await using b = await launchBrowser();
  const page = await b.newPage();
  // Refuse the island bundle: the page is what a browser without JavaScript gets.
  await page.route(/\/static\/islands\.[0-9a-f]+\.js$/, (r) => r.abort());
  await f.login(page);
  await page.goto(`${f.url}/learning`);
  assert.equal(await page.locator("html[data-hydrated]").count(), 0, "no island ran");
  await page.check(`input[name=exe][value="${f.bin.curlish}"]`);
  await page.click("[data-test=approve]");
  await page.waitForURL(`${f.url}/learning`);
  assert.match(await page.textContent("[data-test=flash]") ?? "", /Approved curlish/);
  assert.equal(await page.locator(`[data-exe="${f.bin.curlish}"]`).count(), 0);
  const app = (await f.json<AppInfo[]>(["apps", "list"])).find((a) => a.path === f.bin.curlish);
  assert.equal(app?.status, "valid");
  assert.equal(app?.approvedInKernel, true);

  await page.goto(`${f.url}/apps`);
  const file = await Deno.open(f.bin.backup, { append: true });
  await file.write(new Uint8Array([0]));
  file.close();
  await page.click('[data-app="backup"] button:has-text("Rehash")');
  await page.waitForURL(`${f.url}/apps`);
  assert.match(
    await page.textContent("[data-test=flash]") ?? "",
    /Rehashed 1 app\(s\); 1 not valid/,
  );
  assert.equal(
    await page.getAttribute('[data-app="backup"] [data-status]', "data-status"),
    "invalid",
  );
  // Both facts reach the kernel: enforcing lets the approved one through, not the tampered one.
  assert.equal((await f.daemon.cli(["mode", "enforcing"])).code, 0);
  assert.equal((await f.connect(f.bin.curlish)).verdict, "ok");
  assert.equal((await f.connect(f.bin.backup)).verdict, "EPERM");
});

/** A deep install folder and a long file name, as vendors ship them. */
const LONG_DIR =
  "opt/vendor-with-a-rather-long-name/enterprise-application-suite-2026.11/lib/x86_64-linux-gnu/helpers";
const LONG_FILE = "com.example.enterprise-sync-client.renderer-helper-process";
/** Full-length IPv6 addresses (no zero group to compress), on the test namespaces' veth. */
const V6_A = "fd00:200:beef:cafe:1234:5678:9abc:def1";
const V6_B = "fd00:200:beef:cafe:1234:5678:9abc:def0";

/**
 * What a page shows that the reader cannot see: sideways page scroll, a table (or any scroll box
 * other than a text editor) whose content is wider than its box, an element reaching past the
 * window's right edge.
 */
async function hiddenContent(page: import("playwright-core").Page) {
  return await page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const name = (e: Element) => `<${e.tagName.toLowerCase()} class="${e.className}">`;
    const clipped = [...document.querySelectorAll("body *")].filter((e) => {
      if (["TEXTAREA", "PRE", "INPUT", "SELECT", "CODE"].includes(e.tagName)) return false;
      if (e.closest("textarea, pre, .editor")) return false;
      const ox = getComputedStyle(e).overflowX;
      return ox !== "visible" && e.scrollWidth > e.clientWidth + 1;
    }).map((e) => `${name(e)} ${e.scrollWidth}>${e.clientWidth}`);
    const past = [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > w + 1 && !e.closest("textarea"))
      .map(name);
    return {
      pageOverflow: document.documentElement.scrollWidth - w,
      clipped: clipped.slice(0, 5),
      past: past.slice(0, 5),
    };
  });
}

Deno.test("every page at 1280 and 390 px with long paths, names and IPv6 addresses: nothing clipped", async () => {
  const long = await Deno.makeTempDir({ prefix: "hw-ui-long-" });
  await using lab = await createNetnsLab("uw");
  try {
    const dir = `${long}/${LONG_DIR}`;
    const unknown = await netclientCopy(dir, LONG_FILE);
    const approved = await netclientCopy(dir, `${LONG_FILE}-approved`);
    for (const [ns, addr] of [[lab.a, V6_A], [lab.b, V6_B]] as const) {
      const r = await lab.run(ns, ["ip", "addr", "add", `${addr}/64`, "dev", "veth0", "nodad"]);
      assert.equal(r.code, 0, r.stderr);
    }
    await using f = await startUiDaemon({
      mode: "learning",
      apps: [{
        name: "enterprise-sync-client-renderer-helper-process-x86_64",
        path: approved,
        sha256: await sha256Of(approved),
      }],
      rulesExtra: `
[[rule]]
id = "allow-internal-monitoring-collectors-over-ipv6"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [9090, "9100-9199"]
remote = ["${V6_B}/128", "fd00:200:beef:cafe::/64", "2001:db8:85a3:1234:5678:8a2e:370:7334"]
via = "enterprise-sync-client-renderer-helper-process-x86_64"
comment = "Prometheus exporters on the monitoring VLAN of the second data centre (ticket OPS-123456)"

[[integrity.watch]]
path = "${dir}"
recursive = true
`,
    });
    // Learning: the long-path program, reported while allowed.
    assert.equal((await f.connect(unknown)).verdict, "ok");
    // Enforcing: denials, one to a full-length IPv6 address inside the test namespaces (the
    // connect hook refuses it before any packet; the address exists only in the lab).
    assert.equal((await f.daemon.cli(["mode", "enforcing"])).code, 0);
    assert.equal((await f.connect(unknown, f.port)).verdict, "EPERM"); // another destination: not deduplicated
    const v6 = await f.daemon.cg.run([
      "nsenter",
      `--net=${lab.a.path}`,
      unknown,
      "tcp6",
      V6_B,
      "443",
    ]);
    assert.equal(v6.stdout.trim(), "EPERM", v6.stderr);
    await Deno.writeTextFile(`${dir}/${LONG_FILE}.conf`, "changed\n");
    await until("the denials are stored", async () => {
      const r = await f.daemon.cli(["events", "--verdict", "deny", "--json"]);
      return r.stdout.includes(V6_B) && r.stdout.includes("127.0.0.1");
    }).catch(async (e) => {
      const r = await f.daemon.cli(["events", "--json"]);
      throw new Error(`${e.message}; events:\n${r.stdout}`);
    });

    for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
      await using b = await launchBrowser({ viewport });
      const page = await b.newPage();
      await f.login(page);
      for (const p of ["overview", "learning", "apps", "rules", "integrity", "history"]) {
        await page.goto(`${f.url}/${p === "overview" ? "" : p}`);
        const main = await page.textContent("main") ?? "";
        if (p === "overview" || p === "history") {
          assert.ok(main.includes(V6_B), `${p}: the IPv6 destination is shown`);
          assert.ok(main.includes(LONG_FILE), `${p}: the long path is shown`);
        }
        const h = await hiddenContent(page);
        await screenshot(page, `${viewport.width}-${p}`);
        assert.ok(
          h.pageOverflow <= 0 && h.clipped.length === 0 && h.past.length === 0,
          `${p} at ${viewport.width} px: page scrolls sideways by ${h.pageOverflow}px; ` +
            `clipped: ${h.clipped.join(" ")}; past the right edge: ${h.past.join(" ")}`,
        );
      }
    }
  } finally {
    await Deno.remove(long, { recursive: true });
  }
});

Deno.test("the login page fits a narrow window", async () => {
  await using f = await startUiDaemon({ mode: "learning" });
  await using b = await launchBrowser({ viewport: { width: 390, height: 844 } });
  const lp = await b.newPage();
  await lp.goto(`${f.url}/`);
  assert.equal(await lp.textContent("h1"), "Sign in");
  const h = await hiddenContent(lp);
  assert.equal(h.pageOverflow <= 0 && h.past.length === 0, true, JSON.stringify(h));
  await screenshot(lp, "login");
});
