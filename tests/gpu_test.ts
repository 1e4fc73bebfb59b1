// Every WebGPU test runs through this one module. `deno test` evaluates each
// test file in its own isolate, so each file used to create and drop its own
// GPUDevice; with ~15 GPU files, wgpu/Mesa corrupted the heap at process exit
// in about one run in ten (after every test had passed). One isolate means
// one device. The files in tests/gpu/ are excluded from discovery in
// deno.json; run a subset with `deno test tests/gpu_test.ts --filter <words>`.
import "./gpu/strict_memory.ts"; // first: deterministic buffer accounting
import "./gpu/attention_torch_test.ts";
import "./gpu/attention_f16_test.ts";
import "./gpu/audit_test.ts";
import "./gpu/audit_fixes_test.ts";
import "./gpu/autograd_test.ts";
import "./gpu/custom_kernel_test.ts";
import "./gpu/device_test.ts";
import "./gpu/embedding_test.ts";
import "./gpu/extrema_test.ts";
import "./gpu/f16_test.ts";
import "./gpu/f16_ops_test.ts";
import "./gpu/fused_attention_test.ts";
import "./gpu/generate_test.ts";
import "./gpu/gpt_layers_test.ts";
import "./gpu/gpt_model_test.ts";
import "./gpu/gpt2_weights_test.ts";
import "./gpu/gpt2_f16_test.ts";
import "./gpu/gpu_runtime_test.ts";
import "./gpu/int32_test.ts";
import "./gpu/kv_cache_test.ts";
import "./gpu/large_tensor_test.ts";
import "./gpu/loop_bound_test.ts";
import "./gpu/layout_test.ts";
import "./gpu/matmul_kernel_test.ts";
import "./gpu/memory_test.ts";
import "./gpu/numerics_test.ts";
import "./gpu/ops_gpu_test.ts";
import "./gpu/optim_test.ts";
import "./gpu/perf_counters_test.ts";
import "./gpu/philox_test.ts";
import "./gpu/reduce_dims_test.ts";
import "./gpu/state_dict_test.ts";
import "./gpu/tensor_test.ts";
import "./gpu/training_test.ts";
import "./gpu/train_gpt_test.ts";
import "./gpu/train_scale_test.ts";
import "./gpu/tree_test.ts";
import "./gpu/unary_test.ts";
