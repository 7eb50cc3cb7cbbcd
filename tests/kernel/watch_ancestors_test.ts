/**
 * FileWatcher: folders above a watched file (issue 13, vector 4b). Renaming any of them, and
 * putting other files at the same path, reports the watched path as deleted/replaced; the new
 * folders at those paths are watched from then on. Real fanotify, a temp tree of its own.
 */
import assert from "node:assert/strict";
import { FileWatcher, type WatchEvent } from "../../src/integrity/watch.ts";
import { until } from "../helpers/wait.ts";

Deno.test("watch: a folder above a watched file moved away and rebuilt", async () => {
  const base = await Deno.makeTempDir({ prefix: "hw-watch-anc-" });
  const events: WatchEvent[] = [];
  const w = new FileWatcher({ onEvent: (e) => events.push(e), ignorePids: [] });
  try {
    await Deno.mkdir(`${base}/a/b/c`, { recursive: true });
    const file = `${base}/a/b/c/app`;
    await Deno.writeTextFile(file, "v1");
    w.addFile(file);
    w.start();

    // The grandparent's parent moves: the file is gone from its path.
    await Deno.rename(`${base}/a/b`, `${base}/a/b.old`);
    await until(
      "deleted after the ancestor moved",
      () => Promise.resolve(events.some((e) => e.kind === "deleted" && e.path === file)),
    );
    // Rebuilt with another file at the same path: the new folders are watched, so it shows.
    await Deno.mkdir(`${base}/a/b/c`, { recursive: true });
    await Deno.writeTextFile(file, "other");
    const ino = String((await Deno.stat(file)).ino);
    const back = await until(
      "created at the path again",
      () => Promise.resolve(events.find((e) => e.kind === "created" && e.path === file)),
    );
    assert.equal(back.ino, ino);

    // A folder renamed OVER an ancestor (a prepared tree) replaces the file in one step.
    events.length = 0;
    await Deno.mkdir(`${base}/prep/c`, { recursive: true });
    await Deno.writeTextFile(`${base}/prep/c/app`, "third");
    const third = String((await Deno.stat(`${base}/prep/c/app`)).ino);
    await Deno.remove(`${base}/a/b`, { recursive: true });
    await Deno.rename(`${base}/prep`, `${base}/a/b`);
    const rep = await until(
      "the file at the path is the new one",
      () => Promise.resolve(events.find((e) => e.path === file && e.ino === third)),
    );
    assert.ok(rep.kind === "replaced" || rep.kind === "created", rep.kind);

    // Moves elsewhere in an ancestor (siblings) report nothing about the file.
    events.length = 0;
    await Deno.mkdir(`${base}/a/sibling`);
    await Deno.rename(`${base}/a/sibling`, `${base}/a/sibling2`);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(events.filter((e) => e.path === file), []);
  } finally {
    await w.close();
    await Deno.remove(base, { recursive: true });
  }
});
