//! The one place that decides how results look: tables for people, JSON for machines,
//! colors only on a terminal and never with NO_COLOR. Data goes to stdout (or a file);
//! warnings go to stderr.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};
use clap::ValueEnum;
use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};
use serde::Serialize;

use crate::exit::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table for people (plain columns when piped).
    Table,
    /// JSON for machines (shapes documented in docs/json-output.md).
    Json,
    /// Markdown tables, for reports and tickets.
    Markdown,
}

/// Renders rows and writes them out.
#[derive(Debug, Clone)]
pub struct Printer {
    pub format: OutputFormat,
    pub quiet: bool,
    terminal: bool,
    color: bool,
}

impl Printer {
    pub fn new(format: OutputFormat, quiet: bool) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer {
            format,
            quiet,
            terminal,
            color: terminal && !no_color,
        }
    }

    /// Whether stdout is a terminal.
    pub fn on_terminal(&self) -> bool {
        self.terminal
    }

    /// Whether colors are on (stdout is a terminal and NO_COLOR is not set).
    pub fn colors(&self) -> bool {
        self.color
    }

    /// A printer for text that goes to a file: no colors, no borders, every row (a report
    /// file is whole whatever --quiet says).
    pub fn for_file(&self) -> Printer {
        Printer {
            terminal: false,
            color: false,
            quiet: false,
            ..self.clone()
        }
    }

    /// Whether a row of this status is shown: with --quiet only the rows that are not OK
    /// (so cron mails only problems).
    pub fn shows(&self, status: crate::exit::Status) -> bool {
        !self.quiet || status != crate::exit::Status::Ok
    }

    /// Like [`Printer::emit_result`] for a checking command: with --quiet, nothing on stdout
    /// when everything is OK (the exit code says it); a file is written either way.
    pub fn emit_checked<T: Serialize>(
        &self,
        status: crate::exit::Status,
        value: &T,
        file: Option<&Path>,
        render: impl FnOnce(&Printer) -> String,
    ) -> Result<()> {
        if self.quiet && file.is_none() && status == crate::exit::Status::Ok {
            return Ok(());
        }
        self.emit_result(value, file, render)
    }

    /// Render a table: borders on a terminal, plain aligned columns otherwise.
    pub fn table(&self, headers: &[&str], rows: Vec<Vec<Cell>>) -> String {
        let mut table = Table::new();
        if self.format == OutputFormat::Markdown {
            table
                .load_preset(presets::ASCII_MARKDOWN)
                .set_content_arrangement(ContentArrangement::Disabled);
        } else if self.terminal {
            table.load_preset(presets::UTF8_FULL_CONDENSED);
            // Wrap to the terminal's width when it is known and sane; a pseudo-terminal
            // that reports no size must not squeeze every column to one character.
            let arrangement = match table.width() {
                Some(width) if width >= 40 => ContentArrangement::Dynamic,
                _ => ContentArrangement::Disabled,
            };
            table.set_content_arrangement(arrangement);
        } else {
            table
                .load_preset(presets::NOTHING)
                .set_content_arrangement(ContentArrangement::Disabled);
        }
        // In the run's language (the JSON of the same data keeps its English keys).
        table.set_header(headers.iter().map(|h| Cell::new(crate::i18n::header(h))));
        let english = crate::i18n::current() == crate::i18n::Lang::En;
        for row in rows {
            // Values from outside (container names, log text, targets) never reach the
            // terminal with their control characters: ESC sequences could rewrite the screen.
            // gymops' own words in a cell (a summary, a detail) are shown in the run's
            // language; a cell no message matches stays as it is.
            let row: Vec<Cell> = row
                .into_iter()
                .map(|cell| {
                    let content = cell.content();
                    if content.chars().any(|c| c.is_control() && c != '\n') {
                        return Cell::new(escape_controls(&content));
                    }
                    if !english {
                        let said = crate::i18n::text(&content);
                        if said != content {
                            return Cell::new(said);
                        }
                    }
                    cell
                })
                .collect();
            table.add_row(row);
        }
        if !self.terminal && self.format != OutputFormat::Markdown {
            for column in table.column_iter_mut() {
                column.set_padding((0, 2));
            }
        }
        let mut text: String = table
            .to_string()
            .lines()
            .map(|line| line.trim_end().to_string() + "\n")
            .collect();
        if text.is_empty() {
            text.push('\n');
        }
        text
    }

    /// A cell showing a status, colored when colors are on.
    pub fn status_cell(&self, status: Status) -> Cell {
        self.paint(Cell::new(status.display()), status)
    }

    /// Color a cell by a status, when colors are on.
    pub fn paint(&self, cell: Cell, status: Status) -> Cell {
        if !self.color || self.format == OutputFormat::Markdown {
            return cell;
        }
        cell.fg(match status {
            Status::Ok => Color::Green,
            Status::Warning => Color::Yellow,
            Status::Critical => Color::Red,
            Status::Unknown => Color::Magenta,
        })
    }

    /// A right-aligned cell (numbers).
    pub fn number_cell(text: impl ToString) -> Cell {
        Cell::new(text.to_string()).set_alignment(CellAlignment::Right)
    }

    /// Pretty JSON with a trailing newline.
    pub fn json<T: Serialize>(value: &T) -> Result<String> {
        let mut text =
            serde_json::to_string_pretty(value).context("cannot encode the result as JSON")?;
        text.push('\n');
        Ok(text)
    }

    /// Print a result: JSON, or `render` (a table, or Markdown) with this printer, or, when a
    /// file is given, with a file printer (no colors, no borders) into the file atomically.
    pub fn emit_result<T: Serialize>(
        &self,
        value: &T,
        file: Option<&Path>,
        render: impl FnOnce(&Printer) -> String,
    ) -> Result<()> {
        let printer = if file.is_some() {
            self.for_file()
        } else {
            self.clone()
        };
        let text = match printer.format {
            OutputFormat::Json => Printer::json(value)?,
            OutputFormat::Table | OutputFormat::Markdown => render(&printer),
        };
        printer.emit(&text, file)
    }

    /// Write data: to `file` atomically when given, else to stdout.
    pub fn emit(&self, text: &str, file: Option<&Path>) -> Result<()> {
        match file {
            Some(path) => crate::fsutil::write_output(path, text.as_bytes())
                .with_context(|| format!("cannot write the output file {}", path.display())),
            None => {
                let mut stdout = std::io::stdout().lock();
                match stdout
                    .write_all(text.as_bytes())
                    .and_then(|_| stdout.flush())
                {
                    // A closed pipe (`gymops ps | head -1`) is not an error worth a message.
                    Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                    other => other.context("cannot write to stdout"),
                }
            }
        }
    }

    /// A warning on stderr, unless --quiet.
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!(
                "{}",
                crate::i18n::tr_args("warning-line", &[("message", crate::i18n::text(message))])
            );
        }
    }

    /// A note on stderr, unless --quiet.
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{}", crate::i18n::text(message));
        }
    }

    /// Whether live progress belongs on stderr: a terminal, and not --quiet. (Commands with
    /// a display of their own, such as a byte counter, ask this rather than the terminal.)
    pub fn shows_progress(&self) -> bool {
        std::io::stderr().is_terminal() && !self.quiet
    }

    /// Progress of a long step on stderr: on a terminal, a spinner line that shows the
    /// current message while the steps stay above it; elsewhere (cron, CI) every step as a
    /// line and no spinner; nothing with --quiet. The one place that decides.
    pub fn progress(&self) -> Progress {
        let bar = self.shows_progress().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            quiet: self.quiet,
        }
    }
}

/// See [`Printer::progress`]. Cleared when dropped.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Progress {
    /// A step that stays on screen (and is logged off a terminal).
    pub fn step(&self, line: &str) {
        let line = &crate::i18n::text(line);
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.set_message(line.to_string());
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    /// What is going on now: the spinner's message on a terminal; logged elsewhere.
    pub fn status(&self, line: &str) {
        let line = &crate::i18n::text(line);
        match &self.bar {
            Some(bar) => bar.set_message(line.to_string()),
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    /// Only the spinner's message, never a log line (a countdown).
    pub fn transient(&self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(crate::i18n::text(line));
        }
    }

    /// A line above the spinner on a terminal; nothing elsewhere (the command's own output
    /// says it).
    pub fn terminal_line(&self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.println(crate::i18n::text(line));
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A duration as operators read it: `45s`, `12m`, `3h 12m`, `5d 3h`.
pub fn short_duration(seconds: i64) -> String {
    if seconds < 0 {
        return "-".into();
    }
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Control characters (but line breaks) as visible escapes: `\u{1b}[2J` -> `\x1b[2J`.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations_keep_the_two_largest_units() {
        assert_eq!(short_duration(42), "42s");
        assert_eq!(short_duration(12 * 60 + 5), "12m");
        assert_eq!(short_duration(3 * 3600), "3h");
        assert_eq!(short_duration(3 * 3600 + 12 * 60), "3h 12m");
        assert_eq!(short_duration(5 * 86_400 + 3 * 3600 + 59), "5d 3h");
        assert_eq!(short_duration(-1), "-");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(7_823_458_304), "7.3 GiB");
    }

    #[test]
    fn plain_tables_are_aligned_columns_without_borders_or_trailing_space() {
        let printer = Printer {
            format: OutputFormat::Table,
            quiet: false,
            terminal: false,
            color: false,
        };
        let text = printer.table(&["A", "LONGER"], vec![vec![Cell::new("x"), Cell::new("y")]]);
        assert_eq!(text, "A  LONGER\nx  y\n");
    }

    #[test]
    fn control_characters_in_cells_are_escaped() {
        let printer = Printer {
            format: OutputFormat::Table,
            quiet: false,
            terminal: false,
            color: false,
        };
        let text = printer.table(
            &["NAME"],
            vec![vec![Cell::new("evil\u{1b}[2J\u{7}name\tx")]],
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(text.contains("evil\\x1b[2J\\x07name\\tx"), "{text}");
    }
}
