// Runs under plain `deno test`, with no permission flags: the happy paths go
// through an in-memory file system, and the permission tests need none. That
// the static imports below succeed also shows the modules import without any.
import assert from "node:assert/strict";
import {
  PermissionError,
  SafetensorsFormatError,
  UnsupportedFormatError,
} from "../src/io/checkpoint_errors.ts";
import {
  readSafetensorsFile,
  type SafetensorsFs,
  writeSafetensorsFile,
} from "../src/io/safetensors_file.ts";
import { type HostTensor, serializeSafetensors } from "../src/io/safetensors_format.ts";

type Call = [string, ...string[]];

/** Files in a Map; `fail` makes the named operation throw, after writing half for writeFile. */
class MemoryFs implements SafetensorsFs {
  files = new Map<string, Uint8Array>();
  calls: Call[] = [];
  fail: Partial<Record<keyof SafetensorsFs, Error>> = {};

  readFile(path: string): Promise<Uint8Array> {
    this.calls.push(["readFile", path]);
    if (this.fail.readFile) return Promise.reject(this.fail.readFile);
    const data = this.files.get(path);
    return data ? Promise.resolve(data.slice()) : Promise.reject(new Deno.errors.NotFound(path));
  }

  writeFile(path: string, data: Uint8Array, options: { createNew: boolean }): Promise<void> {
    this.calls.push(["writeFile", path, `createNew=${options.createNew}`]);
    if (options.createNew && this.files.has(path)) {
      return Promise.reject(new Deno.errors.AlreadyExists(path));
    }
    if (this.fail.writeFile) {
      this.files.set(path, data.slice(0, data.length >> 1)); // a partial write
      return Promise.reject(this.fail.writeFile);
    }
    this.files.set(path, data.slice());
    return Promise.resolve();
  }

  rename(from: string, to: string): Promise<void> {
    this.calls.push(["rename", from, to]);
    if (this.fail.rename) return Promise.reject(this.fail.rename);
    const data = this.files.get(from);
    if (!data) return Promise.reject(new Deno.errors.NotFound(from));
    this.files.set(to, data);
    this.files.delete(from);
    return Promise.resolve();
  }

  remove(path: string): Promise<void> {
    this.calls.push(["remove", path]);
    if (this.fail.remove) return Promise.reject(this.fail.remove);
    return this.files.delete(path)
      ? Promise.resolve()
      : Promise.reject(new Deno.errors.NotFound(path));
  }
}

const TENSORS = new Map<string, HostTensor>([
  ["w", { shape: [2, 2], data: new Float32Array([1, -2, 3.5, 0]) }],
  ["b", { shape: [2], data: new Float32Array([0.25, -0.5]) }],
]);

Deno.test("write renames a same-directory temporary file into place", async () => {
  const fs = new MemoryFs();
  await writeSafetensorsFile("/models/m.safetensors", TENSORS, { format: "pt" }, { fs });
  assert.deepEqual([...fs.files.keys()], ["/models/m.safetensors"]);
  assert.deepEqual(
    fs.files.get("/models/m.safetensors"),
    serializeSafetensors(TENSORS, { format: "pt" }),
  );
  const [write, rename] = fs.calls;
  assert.equal(write[0], "writeFile");
  assert.match(write[1], /^\/models\/\.m\.safetensors\.[0-9a-f-]{36}\.tmp$/);
  assert.equal(write[2], "createNew=true");
  assert.deepEqual(rename, ["rename", write[1], "/models/m.safetensors"]);
  assert.equal(fs.calls.length, 2);
});

Deno.test("write then read round-trips through the file helpers", async () => {
  const fs = new MemoryFs();
  await writeSafetensorsFile("out/m.safetensors", TENSORS, new Map([["k", "v"]]), { fs });
  const parsed = await readSafetensorsFile("out/m.safetensors", { fs });
  assert.deepEqual(parsed.tensors.get("w"), { dtype: "F32", ...TENSORS.get("w")! });
  assert.deepEqual(parsed.tensors.get("b"), { dtype: "F32", ...TENSORS.get("b")! });
  assert.deepEqual([...parsed.metadata], [["k", "v"]]);
});

Deno.test("a file URL is read and written at its path", async () => {
  const fs = new MemoryFs();
  const url = new URL("file:///tmp/a%20b/m.safetensors");
  await writeSafetensorsFile(url, TENSORS, undefined, { fs });
  assert.ok(fs.files.has("/tmp/a b/m.safetensors"));
  assert.equal((await readSafetensorsFile(url, { fs })).tensors.size, 2);
});

Deno.test("a failed rename removes the temporary file and keeps the old file", async () => {
  const fs = new MemoryFs();
  const old = new Uint8Array([1, 2, 3]);
  fs.files.set("/m/x.safetensors", old);
  const failure = new Error("disk is read-only");
  fs.fail.rename = failure;
  await assert.rejects(
    writeSafetensorsFile("/m/x.safetensors", TENSORS, undefined, { fs }),
    (e) => e === failure,
  );
  assert.deepEqual([...fs.files], [["/m/x.safetensors", old]]);
  assert.deepEqual(fs.calls.map((c) => c[0]), ["writeFile", "rename", "remove"]);
  assert.equal(fs.calls[2][1], fs.calls[0][1]);
});

Deno.test("a failed write removes the partial temporary file", async () => {
  const fs = new MemoryFs();
  const failure = new Error("no space left on device");
  fs.fail.writeFile = failure;
  await assert.rejects(
    writeSafetensorsFile("/m/x.safetensors", TENSORS, undefined, { fs }),
    (e) => e === failure,
  );
  assert.equal(fs.files.size, 0);
  assert.deepEqual(fs.calls.map((c) => c[0]), ["writeFile", "remove"]);
});

Deno.test("a failed cleanup does not hide the original error", async () => {
  const fs = new MemoryFs();
  const failure = new Error("rename failed");
  fs.fail.rename = failure;
  fs.fail.remove = new Error("remove failed too");
  await assert.rejects(
    writeSafetensorsFile("/m/x.safetensors", TENSORS, undefined, { fs }),
    (e) => e === failure,
  );
});

Deno.test("invalid tensors are refused before the file system is touched", async () => {
  const fs = new MemoryFs();
  const bad: [string, HostTensor][] = [["w", { shape: [3], data: new Float32Array(2) }]];
  await assert.rejects(
    writeSafetensorsFile("/m/x.safetensors", bad, undefined, { fs }),
    SafetensorsFormatError,
  );
  assert.deepEqual(fs.calls, []);
});

Deno.test("pickle extensions are refused before any byte is read", async () => {
  const fs = new MemoryFs();
  for (const name of ["m.pt", "m.pth", "pytorch_model.bin", "m.ckpt", "m.pkl", "M.PT"]) {
    await assert.rejects(readSafetensorsFile(`/models/${name}`, { fs }), (e: unknown) => {
      assert.ok(e instanceof UnsupportedFormatError);
      assert.match(e.message, /^Cannot load "\/models\/.*": the extension \.\w+ marks a PyTorch/);
      assert.match(e.message, /arbitrary code/);
      assert.ok(
        e.message.includes('safetensors.torch.save_file(model.state_dict(), "model.safetensors")'),
      );
      return true;
    });
  }
  assert.deepEqual(fs.calls, []);
});

Deno.test("pickle content is refused whatever the file is called", async () => {
  const fs = new MemoryFs();
  fs.files.set(
    "/m/x.safetensors",
    new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9]),
  );
  await assert.rejects(
    readSafetensorsFile("/m/x.safetensors", { fs }),
    (e: unknown) => e instanceof UnsupportedFormatError && /"\/m\/x.safetensors"/.test(e.message),
  );
});

Deno.test("format errors name the file", async () => {
  const fs = new MemoryFs();
  fs.files.set("/m/x.safetensors", new Uint8Array(4));
  await assert.rejects(
    readSafetensorsFile("/m/x.safetensors", { fs }),
    (e: unknown) =>
      e instanceof SafetensorsFormatError && e.code === "HeaderTooSmall" &&
      e.message.startsWith('Cannot parse safetensors file "/m/x.safetensors": '),
  );
});

Deno.test("errors other than permission errors pass through unchanged", async () => {
  const fs = new MemoryFs();
  await assert.rejects(readSafetensorsFile("/m/missing.safetensors", { fs }), Deno.errors.NotFound);
});

function assertPermissionError(
  e: unknown,
  flag: string | undefined,
  cause: new (...args: never[]) => Error,
  pattern: RegExp,
): true {
  assert.ok(e instanceof PermissionError, String(e));
  assert.equal(e.name, "PermissionError");
  assert.equal(e.flag, flag);
  assert.ok(e.cause instanceof cause, String(e.cause));
  assert.match(e.message, pattern);
  return true;
}

Deno.test("injected permission errors map to the flag that grants them", async () => {
  const fs = new MemoryFs();
  fs.fail.readFile = new Deno.errors.NotCapable("Requires read access");
  await assert.rejects(
    readSafetensorsFile("/m/x.safetensors", { fs }),
    (e) =>
      assertPermissionError(
        e,
        "--allow-read=/m/x.safetensors",
        Deno.errors.NotCapable,
        /^Cannot read safetensors file "\/m\/x.safetensors": Deno has no read permission .*; run again with --allow-read=\/m\/x.safetensors$/,
      ),
  );

  fs.fail = { rename: new Deno.errors.NotCapable("Requires read access") };
  await assert.rejects(
    writeSafetensorsFile("/m/x.safetensors", TENSORS, undefined, { fs }),
    (e) =>
      assertPermissionError(
        e,
        "--allow-read=/m",
        Deno.errors.NotCapable,
        /Deno.rename needs .*run again with --allow-read=\/m$/,
      ),
  );
  assert.equal(fs.files.size, 0);

  fs.fail = { readFile: new Deno.errors.PermissionDenied("EACCES") };
  await assert.rejects(
    readSafetensorsFile("/m/x.safetensors", { fs }),
    (e) =>
      assertPermissionError(
        e,
        undefined,
        Deno.errors.PermissionDenied,
        /the operating system denied access to "\/m\/x.safetensors" \(EACCES\)/,
      ),
  );
});

// Real Deno file system, no permissions: this works the same under `deno test -A`.
const MISSING_DIR = "/tessera-no-such-dir";

Deno.test({
  name: "reading without --allow-read names the flag",
  permissions: "none",
  async fn() {
    const path = `${MISSING_DIR}/model.safetensors`;
    await assert.rejects(
      readSafetensorsFile(path),
      (e) =>
        assertPermissionError(
          e,
          `--allow-read=${path}`,
          Deno.errors.NotCapable,
          /run again with --allow-read=\/tessera-no-such-dir\/model.safetensors$/,
        ),
    );
  },
});

Deno.test({
  name: "writing without --allow-write names the flag for the directory",
  permissions: "none",
  async fn() {
    await assert.rejects(
      writeSafetensorsFile(`${MISSING_DIR}/model.safetensors`, TENSORS),
      (e) =>
        assertPermissionError(
          e,
          `--allow-write=${MISSING_DIR}`,
          Deno.errors.NotCapable,
          /temporary file .* renamed into place; run again with --allow-write=\/tessera-no-such-dir$/,
        ),
    );
  },
});
