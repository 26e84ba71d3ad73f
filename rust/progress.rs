//! Progress bars on a terminal, silence elsewhere. A thin wrapper over indicatif so the
//! algorithms only call `inc`/`set` and never check whether a terminal is attached.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that is drawn only when enabled (and stderr is a terminal).
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar that draws nothing.
    pub fn hidden() -> Self {
        Self { bar: None }
    }

    /// `enabled`: `Some(true)` always draw, `Some(false)` never, `None` only on a terminal.
    pub fn enabled(enabled: Option<bool>) -> bool {
        use std::io::IsTerminal;
        enabled.unwrap_or_else(|| std::io::stderr().is_terminal())
    }

    /// A byte-throughput bar (`total` bytes if known).
    pub fn bytes(show: bool, message: &str, total: Option<u64>) -> Self {
        if !show {
            return Self::hidden();
        }
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let tmpl = if total.is_some() {
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{msg:>10} {spinner} {bytes} {bytes_per_sec}"
        };
        if let Ok(st) = ProgressStyle::with_template(tmpl) {
            bar.set_style(st.progress_chars("=> "));
        }
        bar.set_message(message.to_string());
        Self { bar: Some(bar) }
    }

    /// A count bar (`total` steps).
    pub fn steps(show: bool, message: &str, total: u64) -> Self {
        if !show {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(st) = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} eta {eta}") {
            bar.set_style(st.progress_chars("=> "));
        }
        bar.set_message(message.to_string());
        Self { bar: Some(bar) }
    }

    #[inline]
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    #[inline]
    pub fn set(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.set_position(n);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
