#!/usr/bin/env bash
# Builds the npm package, packs it, installs the tarball into a throwaway Node
# project and runs scripts/node_smoke.mjs there under plain Node (no Deno
# globals, no navigator.gpu). Also type-checks a TypeScript consumer against
# the published declarations. Writes only to npm/ and a temporary directory,
# which is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "node smoke: needs Node >= 20, found $(node --version)" >&2
  exit 1
fi

deno task build:npm

tmp="$(mktemp -d "${TMPDIR:-/tmp}/tessera-node-smoke.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# The tarball goes to the temporary directory, not into npm/.
tarball="$(cd npm && npm pack --silent --pack-destination "$tmp")"
echo "node smoke: packed $tarball"

cd "$tmp"
cat >package.json <<'EOF'
{ "name": "tessera-node-smoke", "private": true, "type": "module" }
EOF
npm install --no-audit --no-fund --loglevel=error "./$tarball" "typescript@^5.7.2"
cp "$root/scripts/node_smoke.mjs" smoke.mjs

# The declarations must type-check, with skipLibCheck off, for a consumer that
# lists no types: @webgpu/types comes with the package and is referenced by its
# .d.ts files. @webgpu/types itself needs the DOM lib (Event, ImageBitmap, ...).
cat >consumer.ts <<'EOF'
import { cpu, type Device, nn, tensor, webgpu, type WebGpuDevice } from "@tessera/core";
import { causalAttention } from "@tessera/core/nn";
import { parseSafetensors } from "@tessera/core/safetensors";
const d: Device = cpu;
const gpu: Promise<WebGpuDevice> = webgpu({ device: undefined as unknown as GPUDevice });
const m = causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
const out = nn.causalAttention.apply(m, tensor([[[1, 2, 3]]]));
export { d, gpu, out, parseSafetensors };
EOF
cat >tsconfig.json <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "lib": ["ES2023", "ESNext.Disposable", "DOM"],
    "types": [],
    "strict": true,
    "skipLibCheck": false,
    "noEmit": true
  },
  "files": ["consumer.ts"]
}
EOF
echo "node smoke: type-checking a consumer of the declarations"
npx --no-install tsc -p tsconfig.json

node smoke.mjs
