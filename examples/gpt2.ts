/**
 * GPT-2 from a local Hugging Face model directory: loads the weights and the
 * tokenizer, then streams the continuation of a prompt as it is generated and
 * prints tokens per second.
 *
 *   huggingface-cli download openai-community/gpt2 --local-dir gpt2   # elsewhere
 *   deno run --allow-read=gpt2 examples/gpt2.ts gpt2 "Every effort moves you"
 *
 * Options: `--max-new-tokens=N` (default 25), `--temperature=T` (default 0:
 * greedy), `--top-k=K`, `--seed=S`, `--cpu` (default: WebGPU, cpu when there is
 * no adapter). The directory needs model.safetensors (F32, F16 or BF16),
 * config.json (for the number of heads), and tokenizer.json or vocab.json +
 * merges.txt; a missing file is named in the error.
 *
 * CI runs it on a tiny random checkpoint with GPT-2's real tokenizer files
 * (scripts/gen_gpt2_hf_fixtures.py):
 *
 *   deno run --allow-read=tests/fixtures/gpt2_hf/tiny examples/gpt2.ts \
 *     tests/fixtures/gpt2_hf/tiny "Hello, I am" --max-new-tokens=10
 *
 * and tests/gpt2_example_test.ts calls {@linkcode runGpt2} on it through an
 * in-memory file system (no permissions).
 *
 * Measured on the development machine (2 shared cores, Mesa llvmpipe, no real
 * GPU) with a random checkpoint of GPT-2 small's shapes (F32, 498 MB), 20
 * greedy tokens after a 4-token prompt: loading about 2 s, then 5.1 tokens/s
 * on webgpu and 7.5 tokens/s on cpu (KV cache), PyTorch's greedy ids on both.
 *
 * @module
 */

import {
  cpu,
  type Device,
  dispose,
  generate,
  Generator,
  type Tensor,
  tensor,
  webgpu,
  WebGpuUnavailableError,
} from "../mod.ts";
import { loadGpt2, type SafetensorsFs } from "../src/io/mod.ts";

/** What {@linkcode runGpt2} needs. */
export interface RunGpt2Options {
  /** The model directory. */
  dir: string;
  /** The text to continue. */
  prompt: string;
  /** Tokens to generate (fewer if the model emits `<|endoftext|>`). */
  maxNewTokens: number;
  /** Where to run. */
  device: Device;
  /** 0: greedy; above 0: sampling. */
  temperature?: number;
  /** Top-k filter when sampling. */
  topK?: number;
  /** Seed of the sampling draws. */
  seed?: number;
  /** File system (tests pass an in-memory one); default Deno's. */
  fs?: SafetensorsFs;
  /** Receives the text as it is produced. */
  write: (text: string) => void;
}

/** What {@linkcode runGpt2} returns. */
export interface RunGpt2Result {
  /** Prompt ids then the generated ids. */
  ids: number[];
  /** How many of `ids` are the prompt's. */
  promptTokens: number;
  /** The generated text (without the prompt). */
  text: string;
  /** Generated tokens per second (load time excluded). */
  tokensPerSecond: number;
}

/**
 * Loads `dir` and generates the continuation with one `generate` call,
 * writing each token as soon as it exists (its `onToken` callback; a
 * multi-byte character split across tokens is held back until complete).
 * Greedy and sampled decoding alike run the model with its KV cache: the
 * prompt is one pass, then each token is one pass over one position, the
 * chosen id stays on the device and is fed back, and only its 4 bytes are
 * read. Past the context window the cache is reset and the last
 * `contextLength` tokens prefilled again, as the book's sliding window does.
 * Generation stops at `<|endoftext|>` (kept in `ids`, not written).
 */
export async function runGpt2(o: RunGpt2Options): Promise<RunGpt2Result> {
  const { model, tokenizer, config } = await loadGpt2(o.dir, { device: o.device, fs: o.fs });
  const all: number[] = [];
  let promptTokens = 0;
  let text = "";
  let seconds = 0;
  let prompt: Tensor | undefined;
  let out: Tensor | undefined;
  try {
    const promptIds = tokenizer.encode(o.prompt, { allowedSpecial: "all" });
    if (promptIds.length === 0) throw new Error("the prompt encodes to no tokens");
    all.push(...promptIds);
    promptTokens = promptIds.length;
    o.write(o.prompt);
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    const window = config.contextLength;
    prompt = tensor([promptIds], undefined, { dtype: "int32", device: o.device });
    const start = performance.now();
    out = await generate(model, prompt, {
      maxNewTokens: o.maxNewTokens,
      contextSize: window,
      temperature: o.temperature ?? 0,
      topK: o.topK,
      generator: new Generator(o.seed ?? 123),
      eosId: tokenizer.endOfTextId,
      onToken: (ids) => {
        const id = ids[0];
        all.push(id);
        if (id === tokenizer.endOfTextId) return;
        const piece = decoder.decode(tokenizer.decodeBytes([id]), { stream: true });
        text += piece;
        o.write(piece);
      },
    });
    const rest = decoder.decode();
    text += rest;
    o.write(rest);
    seconds = (performance.now() - start) / 1000;
  } finally {
    dispose([prompt, out, model]);
  }
  return { ids: all, promptTokens, text, tokensPerSecond: (all.length - promptTokens) / seconds };
}

function parseArgs(args: string[]) {
  const positional = args.filter((a) => !a.startsWith("--"));
  const flags = new Map(
    args.filter((a) => a.startsWith("--")).map((a) => {
      const [k, v] = a.slice(2).split("=", 2);
      return [k, v ?? "true"] as const;
    }),
  );
  const known = new Set(["max-new-tokens", "temperature", "top-k", "seed", "cpu"]);
  for (const k of flags.keys()) {
    if (!known.has(k)) throw new Error(`unknown option --${k}`);
  }
  if (positional.length !== 2) {
    throw new Error(
      'usage: deno run --allow-read=<dir> examples/gpt2.ts <model dir> "<prompt>" ' +
        "[--max-new-tokens=N] [--temperature=T] [--top-k=K] [--seed=S] [--cpu]",
    );
  }
  const num = (k: string) => (flags.has(k) ? Number(flags.get(k)) : undefined);
  return {
    dir: positional[0],
    prompt: positional[1],
    maxNewTokens: num("max-new-tokens") ?? 25,
    temperature: num("temperature"),
    topK: num("top-k"),
    seed: num("seed"),
    cpu: flags.has("cpu"),
  };
}

if (import.meta.main) {
  let args;
  try {
    args = parseArgs(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  let device: Device = cpu;
  if (!args.cpu) {
    try {
      device = await webgpu();
    } catch (error) {
      if (!(error instanceof WebGpuUnavailableError)) throw error;
      console.error(`No WebGPU adapter (${error.message}); running on cpu`);
    }
  }
  const encoder = new TextEncoder();
  const write = (s: string) => Deno.stdout.writeSync(encoder.encode(s));
  try {
    const result = await runGpt2({ ...args, device, write });
    write("\n");
    const generated = result.ids.length - result.promptTokens;
    console.error(
      `${generated} tokens on ${device.name}, ${result.tokensPerSecond.toFixed(2)} tokens/s; ` +
        `ids: ${JSON.stringify(result.ids)}`,
    );
  } catch (error) {
    console.error(`\n${(error as Error).name}: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
