fn main() {
    quiet_gpu_probe();
    keep_freed_memory();
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

/// Keeps the memory a training step frees inside the process for the next step. By default glibc
/// maps every block above 128 KiB (raising that bar only after frees) and hands the heap's free top
/// back to the kernel past 128 KiB: a CPU training step allocates and frees its multi-megabyte
/// activations and gradients every batch, so each one came back as fresh pages (page faults, the
/// kernel zeroing them, TLB shoot-downs across the rayon threads). Measured beside the default on
/// the MNIST-USPS-shaped `bench`, three rounds alternated: 8–14 % less time per pre-training step;
/// the contrastive step within its round-to-round noise (+1 to +5 % in that run, −4 to −13 % with
/// the same settings as environment variables in another; docs/BENCHMARKS.md, session 35). The
/// cost: the process keeps its peak heap until it exits.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "mallopt is glibc's C interface; called before any other thread exists")]
fn keep_freed_memory() {
    // SAFETY: mallopt only sets two of the allocator's thresholds, and no other thread is
    // allocating yet (this runs first thing in `main`). A refused value leaves glibc's default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}
