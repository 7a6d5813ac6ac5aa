//! The one writer of standard output for every command: [`write_line`] and the [`outln!`] macro
//! that calls it (use it instead of `println!`).
//!
//! `println!` panics when standard output is closed ("failed printing to stdout: Broken pipe",
//! exit 101), which is what `lid estimate cloud.npy | head -1` does to the last lines. Like a Unix
//! tool, `lid` takes a closed pipe as the end of its output: the process exits quietly with status
//! 0. Every file a command writes goes through [`crate::run::atomic`] (a temporary name, then a
//! rename), so ending there leaves each output complete or absent. Any other write error (a full
//! disk behind a redirection) is named on stderr and ends the process with status 1.
//!
//! [`outln!`]: crate::outln

use std::io::{ErrorKind, Write};

/// Writes `args` and a newline to standard output and flushes it; a closed pipe ends the process
/// with status 0, another write error with status 1 and a message (see the module docs).
pub fn write_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(1)
        }
    }
}

/// `println!` for the commands: one line to standard output through [`write_line`], so that a
/// closed pipe ends the command quietly instead of a panic.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::stdout::write_line(format_args!($($arg)*))
    };
}
