//! The `r1lab` command line (`src/cli/`). Every subcommand has `--help`.

mod cli;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers; libmimalloc-sys
/// 0.1.49 builds v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Keep freed memory mapped: candle allocates and frees large activation buffers every step,
    // and returning them to the OS made the kernel spend ~30% of a training step zeroing pages.
    // SAFETY: sets a process-wide allocator option before any other thread runs.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // No transparent huge pages either: with them the kernel still zeroed 2 MiB pages over and
    // over (3.6 GB in six GRPO steps of a 1.4 GB process; bench/README.md). mimalloc's own
    // `allow_thp` option is read before `main`, so ask the kernel directly. A failure only
    // costs speed, so it is ignored. `R1LAB_THP=1` keeps them (to measure the difference).
    #[cfg(target_os = "linux")]
    if std::env::var_os("R1LAB_THP").is_none_or(|v| v != "1") {
        // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and touches no memory of ours.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    if let Err(e) = cli::run(cli::Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
