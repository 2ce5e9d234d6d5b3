//! `--watch`: a command's result again every interval until Ctrl-C or SIGTERM. On a
//! terminal (table or Markdown) each round redraws the screen in place, like `watch(1)`;
//! piped, each round is a block of its own under a time line (a JSON line per round with
//! `--output json`), so a log of them reads in order. The one loop every watch mode uses.

use std::future::Future;
use std::time::Duration;

use anyhow::Result;

use crate::exit::Status;
use crate::output::{OutputFormat, Printer};

/// One round's result.
pub struct Frame {
    pub status: Status,
    /// The round as one compact JSON document (a line of JSON Lines).
    pub json: String,
    /// The round for people: a table and what goes with it.
    pub text: String,
}

impl Frame {
    pub fn new<T: serde::Serialize>(status: Status, value: &T, text: String) -> Result<Frame> {
        Ok(Frame {
            status,
            json: serde_json::to_string(value)?,
            text,
        })
    }
}

/// Run `round` every `interval` and show each frame, until told to stop; the last round's
/// status is the result (a watch ended by Ctrl-C exits as its last picture said). A stop
/// ends it at once, also in the middle of a round.
pub async fn every<F, Fut>(printer: &Printer, interval: Duration, mut round: F) -> Result<Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Frame>>,
{
    let stop = crate::signals::terminated();
    tokio::pin!(stop);
    let mut screen = Screen::new(printer, interval);
    let mut last = Status::Ok;
    loop {
        let frame = tokio::select! {
            frame = round() => frame?,
            _ = &mut stop => break,
        };
        last = frame.status;
        printer.emit(&screen.show(&frame, chrono::Local::now()), None)?;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut stop => break,
        }
    }
    Ok(last)
}

/// How rounds are laid out on stdout.
pub struct Screen {
    format: OutputFormat,
    in_place: bool,
    interval: Duration,
    rounds: u64,
}

impl Screen {
    pub fn new(printer: &Printer, interval: Duration) -> Screen {
        Screen {
            format: printer.format,
            in_place: printer.on_terminal() && printer.format != OutputFormat::Json,
            interval,
            rounds: 0,
        }
    }

    /// Whether rounds redraw the terminal (no stderr lines then: they would scroll it).
    pub fn in_place(&self) -> bool {
        self.in_place
    }

    /// The bytes that show `frame` as the next round.
    pub fn show(&mut self, frame: &Frame, at: chrono::DateTime<chrono::Local>) -> String {
        self.rounds += 1;
        if self.format == OutputFormat::Json {
            return format!("{}\n", frame.json);
        }
        let heading = crate::i18n::text(&crate::say!(
            "every {}, at {}; Ctrl+C ends",
            humantime::format_duration(self.interval),
            at.format("%Y-%m-%d %H:%M:%S")
        ));
        if !self.in_place {
            let gap = if self.rounds > 1 { "\n" } else { "" };
            return format!("{gap}== {heading}\n{}", frame.text);
        }
        // Home, then each line over the old one with the rest of the old line erased, then
        // everything below erased: no flicker, and a shorter table leaves nothing behind.
        let mut out = String::from(if self.rounds == 1 {
            "\u{1b}[H\u{1b}[2J"
        } else {
            "\u{1b}[H"
        });
        for line in std::iter::once(heading.as_str()).chain(frame.text.lines()) {
            out.push_str(line);
            out.push_str("\u{1b}[K\n");
        }
        out.push_str("\u{1b}[J");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(format: OutputFormat, in_place: bool) -> Screen {
        Screen {
            format,
            in_place,
            interval: Duration::from_secs(2),
            rounds: 0,
        }
    }

    fn frame(text: &str) -> Frame {
        Frame {
            status: Status::Ok,
            json: "{\"a\":1}".into(),
            text: text.into(),
        }
    }

    fn at() -> chrono::DateTime<chrono::Local> {
        chrono::Local::now()
    }

    #[test]
    fn piped_rounds_are_blocks_under_a_time_line() {
        let mut screen = screen(OutputFormat::Table, false);
        let first = screen.show(&frame("A\n"), at());
        let second = screen.show(&frame("B\n"), at());
        assert!(first.starts_with("== every 2s, at "), "{first}");
        assert!(first.ends_with("Ctrl+C ends\nA\n"), "{first}");
        assert!(second.starts_with("\n== every 2s"), "{second}");
        assert!(!first.contains('\u{1b}') && !second.contains('\u{1b}'));
    }

    #[test]
    fn json_rounds_are_json_lines() {
        let mut screen = screen(OutputFormat::Json, false);
        assert_eq!(screen.show(&frame("A\n"), at()), "{\"a\":1}\n");
    }

    #[test]
    fn a_terminal_is_cleared_once_then_redrawn_line_by_line() {
        let mut screen = screen(OutputFormat::Table, true);
        let first = screen.show(&frame("row 1\nrow 2\n"), at());
        let second = screen.show(&frame("row 1\n"), at());
        assert!(first.starts_with("\u{1b}[H\u{1b}[2J"));
        assert!(first.contains("row 2\u{1b}[K\n"));
        assert!(second.starts_with("\u{1b}[H") && !second.contains("\u{1b}[2J"));
        // A shorter round erases what the longer one left below it.
        assert!(second.ends_with("row 1\u{1b}[K\n\u{1b}[J"));
    }
}
