// Imported first by tests/gpu_test.ts: the suite's shared device does not
// reclaim garbage-collected tensors, so every test's buffer accounting is
// deterministic and a leak fails the test that leaks instead of vanishing
// whenever a collection happens to run. The backstop's own test turns it on.

import { webgpu } from "../../mod.ts";

// A missing adapter fails each GPU test on its own, as before.
await webgpu({ reclaimUnreachable: false }).catch(() => {});
