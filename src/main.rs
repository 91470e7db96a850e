fn main() -> std::process::ExitCode {
    bound_malloc_memory();
    haochaping::interfaces::cli::main()
}

/// glibc's malloc keeps freed memory per arena, and gives each busy thread an arena (up to 8 per
/// core), and after one free of a large block it stops mapping blocks of that size: each
/// argon2 hash (19 MiB) then stays resident on whichever blocking thread ran it. Two arenas and
/// a fixed mmap threshold return large blocks to the system when freed (issue 18: peak RSS).
fn bound_malloc_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called first thing, before any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
