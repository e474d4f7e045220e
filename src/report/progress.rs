//! Progress of long work (epochs, batches, evaluations) on standard error.
//!
//! Three modes:
//! - **bar**: an `indicatif` bar, chosen automatically when standard error is a terminal;
//! - **plain**: log lines, chosen automatically elsewhere (CI, pipes, files). A line is printed when
//!   the work crosses another 5% of its total or when 5 seconds passed since the previous line, never
//!   once per step;
//! - **quiet**: nothing at all, chosen with [`set_quiet`] or [`ProgressMode::Quiet`].
//!
//! [`log_line`] prints one message in a way that does not tear an active bar.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, WeakProgressBar};

/// In plain mode, a line is printed each time the work crosses another `1 / PLAIN_BUCKETS` of its total.
const PLAIN_BUCKETS: u64 = 20;
/// In plain mode, a line is also printed when this long passed since the previous one.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// Set by [`set_quiet`]: when true, [`Progress::new`] makes silent reporters and [`log_line`] prints nothing.
static QUIET: AtomicBool = AtomicBool::new(false);
/// The most recent bar, so that [`log_line`] can print above it instead of through it.
static ACTIVE_BAR: Mutex<Option<WeakProgressBar>> = Mutex::new(None);

/// Silences (`true`) or re-enables (`false`) every reporter made by [`Progress::new`] afterwards and
/// every [`log_line`], for the whole process (the `--quiet` flag of a command line).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether [`set_quiet`] silenced the output.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Locks a mutex even if another thread panicked while holding it (the guarded data stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Prints one line to standard error, above the active progress bar if there is one; nothing when
/// [`set_quiet`] silenced the output.
pub fn log_line(msg: &str) {
    if is_quiet() {
        return;
    }
    let bar = lock(&ACTIVE_BAR).as_ref().and_then(WeakProgressBar::upgrade);
    match bar {
        // `suspend` clears the bar, prints, and redraws it below the line (and simply prints when the
        // bar is hidden, where `println` would drop the line).
        Some(bar) if !bar.is_finished() => bar.suspend(|| eprintln!("{msg}")),
        _ => eprintln!("{msg}"),
    }
}

/// Standard error through `eprint!`, so that the test harness captures plain-mode lines.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        eprint!("{}", String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// How a [`Progress`] shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar if standard error is a terminal, plain lines otherwise; quiet after [`set_quiet`]`(true)`.
    Auto,
    /// An `indicatif` bar on standard error.
    Bar,
    /// Throttled log lines on standard error.
    Plain,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// Resolves [`ProgressMode::Auto`] against the global quiet flag and the terminal.
    fn resolve(self) -> ProgressMode {
        match self {
            ProgressMode::Auto if is_quiet() => ProgressMode::Quiet,
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Plain,
            other => other,
        }
    }
}

/// State of a plain-mode reporter.
struct Plain {
    /// Where the lines go (standard error, or a buffer in tests).
    sink: Box<dyn Write + Send>,
    /// Steps done so far.
    pos: u64,
    /// The last message given with [`Progress::set_message`].
    message: String,
    /// The 5% bucket of the last printed line.
    printed_bucket: u64,
    /// When the last line was printed.
    printed_at: Instant,
    /// Whether [`Progress::finish`] was called.
    finished: bool,
}

/// The three kinds of reporter.
enum Inner {
    /// A terminal bar.
    Bar(ProgressBar),
    /// Throttled log lines.
    Plain(Mutex<Plain>),
    /// Nothing.
    Quiet,
}

/// A progress reporter for `total` steps of work labelled `label`.
///
/// All methods take `&self`, and a `Progress` is `Send + Sync`, so it can be shared across threads.
/// A `total` of 0 means the length is unknown: the bar becomes a spinner and plain lines are printed
/// only every 5 seconds.
pub struct Progress {
    /// The label printed in front of every line.
    label: String,
    /// Total steps (0: unknown).
    total: u64,
    /// When the reporter was made.
    start: Instant,
    /// The reporter itself.
    inner: Inner,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.inner {
            Inner::Bar(_) => "bar",
            Inner::Plain(_) => "plain",
            Inner::Quiet => "quiet",
        };
        f.debug_struct("Progress").field("label", &self.label).field("total", &self.total).field("mode", &mode).finish()
    }
}

/// Formats a duration as `12.3s`, `4m05s` or `1h02m`.
fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        let s = s as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = (s / 60.0) as u64;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

impl Progress {
    /// A reporter in [`ProgressMode::Auto`]: a bar on a terminal, plain lines elsewhere, nothing after
    /// [`set_quiet`]`(true)`.
    pub fn new(label: &str, total: u64) -> Progress {
        Progress::with_mode(label, total, ProgressMode::Auto)
    }

    /// A reporter that prints nothing.
    pub fn quiet(label: &str, total: u64) -> Progress {
        Progress::with_mode(label, total, ProgressMode::Quiet)
    }

    /// A reporter in the given mode ([`ProgressMode::Auto`] is resolved now).
    pub fn with_mode(label: &str, total: u64, mode: ProgressMode) -> Progress {
        match mode.resolve() {
            ProgressMode::Bar => Progress::bar(label, total),
            ProgressMode::Plain => Progress::plain(label, total, Box::new(Stderr)),
            ProgressMode::Quiet | ProgressMode::Auto => {
                Progress { label: label.to_string(), total, start: Instant::now(), inner: Inner::Quiet }
            }
        }
    }

    /// A terminal bar on standard error.
    fn bar(label: &str, total: u64) -> Progress {
        let (bar, template) = if total == 0 {
            (ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()), "{spinner} {prefix} [{elapsed_precise}] {pos} {msg}")
        } else {
            (
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
                "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} ({percent}%, eta {eta}) {msg}",
            )
        };
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        if total == 0 {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        *lock(&ACTIVE_BAR) = Some(bar.downgrade());
        Progress { label: label.to_string(), total, start: Instant::now(), inner: Inner::Bar(bar) }
    }

    /// A plain-line reporter writing to `sink`.
    fn plain(label: &str, total: u64, sink: Box<dyn Write + Send>) -> Progress {
        let now = Instant::now();
        let state = Plain { sink, pos: 0, message: String::new(), printed_bucket: 0, printed_at: now, finished: false };
        Progress { label: label.to_string(), total, start: now, inner: Inner::Plain(Mutex::new(state)) }
    }

    /// The mode in use ([`ProgressMode::Bar`], [`ProgressMode::Plain`] or [`ProgressMode::Quiet`]).
    pub fn mode(&self) -> ProgressMode {
        match self.inner {
            Inner::Bar(_) => ProgressMode::Bar,
            Inner::Plain(_) => ProgressMode::Plain,
            Inner::Quiet => ProgressMode::Quiet,
        }
    }

    /// The 5% bucket that `pos` falls in (0 when the total is unknown).
    fn bucket(&self, pos: u64) -> u64 {
        if self.total == 0 { 0 } else { (pos.min(self.total) as u128 * PLAIN_BUCKETS as u128 / self.total as u128) as u64 }
    }

    /// One plain line: `label: 45/100 (45%), 12.3s elapsed, eta 15.0s: message`.
    fn plain_line(&self, state: &Plain) -> String {
        let elapsed = self.start.elapsed();
        let mut line = if self.total == 0 {
            format!("{}: {} done, {} elapsed", self.label, state.pos, fmt_duration(elapsed))
        } else {
            let frac = state.pos.min(self.total) as f64 / self.total as f64;
            let mut l = format!("{}: {}/{} ({:.0}%), {} elapsed", self.label, state.pos, self.total, 100.0 * frac, fmt_duration(elapsed));
            if frac > 0.0 && frac < 1.0 {
                let eta = elapsed.as_secs_f64() * (1.0 - frac) / frac;
                l.push_str(&format!(", eta {}", fmt_duration(Duration::from_secs_f64(eta))));
            }
            l
        };
        if !state.message.is_empty() {
            line.push_str(": ");
            line.push_str(&state.message);
        }
        line
    }

    /// Advances by `n` steps.
    pub fn inc(&self, n: u64) {
        match &self.inner {
            Inner::Bar(bar) => bar.inc(n),
            Inner::Plain(state) => {
                let mut state = lock(state);
                if state.finished {
                    return;
                }
                state.pos = state.pos.saturating_add(n);
                let bucket = self.bucket(state.pos);
                let now = Instant::now();
                if bucket > state.printed_bucket || now.duration_since(state.printed_at) >= PLAIN_INTERVAL {
                    state.printed_bucket = bucket;
                    state.printed_at = now;
                    let line = self.plain_line(&state);
                    let _ = writeln!(state.sink, "{line}");
                }
            }
            Inner::Quiet => {}
        }
    }

    /// Sets the message shown after the counts (a bar redraws it; plain mode shows it on the next line).
    pub fn set_message(&self, msg: &str) {
        match &self.inner {
            Inner::Bar(bar) => bar.set_message(msg.to_string()),
            Inner::Plain(state) => lock(state).message = msg.to_string(),
            Inner::Quiet => {}
        }
    }

    /// Ends the work: the bar stays on screen with `msg`; plain mode prints a last line with the total
    /// time and `msg`. Later calls to any method do nothing more in plain mode.
    pub fn finish(&self, msg: &str) {
        match &self.inner {
            Inner::Bar(bar) => bar.finish_with_message(msg.to_string()),
            Inner::Plain(state) => {
                let mut state = lock(state);
                if state.finished {
                    return;
                }
                state.finished = true;
                let elapsed = fmt_duration(self.start.elapsed());
                let line = if msg.is_empty() {
                    format!("{}: done, {} steps in {elapsed}", self.label, state.pos)
                } else {
                    format!("{}: done, {} steps in {elapsed}: {msg}", self.label, state.pos)
                };
                let _ = writeln!(state.sink, "{line}");
            }
            Inner::Quiet => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A sink the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(lock(&self.0).clone()).unwrap()
        }
    }

    #[test]
    fn plain_mode_is_throttled_to_about_every_five_percent() {
        let sink = Shared::default();
        let p = Progress::plain("train", 1000, Box::new(sink.clone()));
        assert_eq!(p.mode(), ProgressMode::Plain);
        p.set_message("loss 0.5");
        for _ in 0..1000 {
            p.inc(1);
        }
        p.finish("best 1.2%");
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        // 20 bucket lines (5%, 10%, ... 100%) plus the final one; a slow machine may add a timed line.
        assert!(lines.len() >= 21 && lines.len() <= 24, "{} lines:\n{text}", lines.len());
        assert!(lines[0].starts_with("train: 50/1000 (5%)"), "{}", lines[0]);
        assert!(lines[0].contains("loss 0.5") && lines[0].contains("eta"), "{}", lines[0]);
        assert!(lines.iter().any(|l| l.starts_with("train: 1000/1000 (100%)")), "{text}");
        let last = lines.last().unwrap();
        assert!(last.starts_with("train: done, 1000 steps in ") && last.ends_with(": best 1.2%"), "{last}");
        // Nothing more after finish.
        p.inc(5);
        p.finish("again");
        assert_eq!(sink.text(), text);
    }

    #[test]
    fn plain_mode_with_unknown_or_tiny_totals() {
        let sink = Shared::default();
        let p = Progress::plain("scan", 0, Box::new(sink.clone()));
        for _ in 0..100 {
            p.inc(1);
        }
        p.finish("");
        // Unknown length: only the time-based lines (none in a fast test) and the final line.
        let text = sink.text();
        assert!(text.lines().count() <= 2, "{text}");
        assert!(text.lines().last().unwrap_or("").starts_with("scan: done, 100 steps in "), "{text}");

        let sink = Shared::default();
        let p = Progress::plain("one", 3, Box::new(sink.clone()));
        p.inc(10); // overshooting the total must not panic or print more than one line
        assert_eq!(sink.text().lines().count(), 1);
        assert!(sink.text().starts_with("one: 10/3 (100%)"), "{}", sink.text());
        p.inc(u64::MAX); // saturates
    }

    #[test]
    fn quiet_mode_prints_nothing_and_does_not_panic() {
        let p = Progress::quiet("q", 10);
        assert_eq!(p.mode(), ProgressMode::Quiet);
        p.set_message("m");
        p.inc(3);
        p.inc(100);
        p.finish("done");
        let p = Progress::with_mode("q", 0, ProgressMode::Quiet);
        p.inc(1);
        p.finish("");
        assert!(format!("{p:?}").contains("quiet"));
    }

    #[test]
    fn auto_mode_under_the_test_runner_does_not_panic() {
        // Under `cargo test` stderr is usually captured (not a terminal), giving plain mode.
        let p = Progress::new("auto", 4);
        for _ in 0..4 {
            p.inc(1);
        }
        p.set_message("msg");
        p.finish("ok");
        log_line("a log line");
        if !std::io::stderr().is_terminal() && !is_quiet() {
            assert_eq!(p.mode(), ProgressMode::Plain);
        }
    }

    #[test]
    fn bar_mode_does_not_panic() {
        // Off a terminal indicatif hides the bar by itself; the calls must still work.
        for total in [0, 5] {
            let p = Progress::with_mode("bar", total, ProgressMode::Bar);
            assert_eq!(p.mode(), ProgressMode::Bar);
            p.inc(2);
            p.set_message("m");
            log_line("above the bar");
            p.inc(10);
            p.finish("done");
            log_line("after the bar");
        }
    }

    #[test]
    fn durations_are_readable() {
        assert_eq!(fmt_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(fmt_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(fmt_duration(Duration::from_secs(3720)), "1h02m");
    }
}
