fn main() {
    quiet_gpu_probe();
    std::process::exit(mvc_workbench::cli::main());
}

/// Keeps the GPU probe's libraries quiet on a headless machine: sets the variable that
/// `quiet_vulkan_env` asks for (see there for which library prints what, and why this switch).
/// Called first thing in `main`, while this is the only thread.
#[expect(unsafe_code, reason = "std::env::set_var is unsafe (edition 2024); sound before any thread exists")]
fn quiet_gpu_probe() {
    if let Some((name, value)) = mvc_workbench::engine::device::quiet_vulkan_env() {
        // SAFETY: `set_var` races only with other threads reading or writing the environment, and
        // none exists yet: this runs before `cli::main` starts anything.
        unsafe { std::env::set_var(name, value) };
    }
}
