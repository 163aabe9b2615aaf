//! Error helpers shared by every operation's error enum.

use std::fmt;

/// Formats an error and its whole `source()` chain, one cause per line.
///
/// Used by the `Debug` impls of the operation error enums so that a log line
/// shows why something failed, not just the outermost message.
pub fn error_chain_fmt(e: &impl std::error::Error, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "{e}")?;
    let mut current = e.source();
    while let Some(cause) = current {
        writeln!(f, "Caused by:\n\t{cause}")?;
        current = cause.source();
    }
    Ok(())
}

/// Renders an error's chain on one line, for structured log fields.
pub fn chain_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut current = e.source();
    while let Some(cause) = current {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        current = cause.source();
    }
    line
}
