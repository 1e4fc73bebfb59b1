// Element type of the storage buffers of dtype-generic kernels: float16
// (needs the device's shader-f16 feature). Compiled first, through launch()'s
// `includes`, since `enable` must precede every declaration. Loads widen to
// f32 and results round back to f16 once per element (f32 accumulation).
enable f16;
alias Store = f16;
