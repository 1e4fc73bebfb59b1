// Element type of the storage buffers of dtype-generic kernels (binary,
// unary, matmul): float32. Compiled first, through launch()'s `includes`;
// storage_f16 is the float16 twin. Kernels convert loads with f32(...) and
// stores with Store(...), so arithmetic stays f32 either way.
alias Store = f32;
