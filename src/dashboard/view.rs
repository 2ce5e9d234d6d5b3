//! Drawing the model with ratatui: a header, the services (state, health, restarts, CPU and
//! memory with their recent history), the probes, PostgreSQL's sessions, errors per minute,
//! the newest backup and open incidents; a log or stats pane, the filter, the restart
//! question and the help over it. Words go through the language of the run.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState, Wrap};
use ratatui::Frame;

use super::model::{spark, Mode, Model};
use crate::exit::Status;
use crate::i18n::{header, text};
use crate::output::{human_bytes, short_duration};
use crate::say;

fn color(status: Status) -> Color {
    match status {
        Status::Ok => Color::Green,
        Status::Warning => Color::Yellow,
        Status::Critical => Color::Red,
        Status::Unknown => Color::Magenta,
    }
}

fn status_word(status: Status) -> String {
    status.display()
}

pub fn draw(frame: &mut Frame, model: &Model, title: &str) {
    let [top, services, bottom, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(9),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, top, model, title);
    draw_services(frame, services, model);
    match &model.mode {
        Mode::Log(name) => draw_log(frame, bottom, model, name),
        Mode::Stats(name) => draw_stats(frame, bottom, model, name),
        _ => draw_panels(frame, bottom, model),
    }
    draw_footer(frame, footer, model);
    match &model.mode {
        Mode::Help => draw_help(frame),
        Mode::Confirm(name) => draw_confirm(frame, name),
        _ => {}
    }
}

fn draw_header(frame: &mut Frame, area: Rect, model: &Model, title: &str) {
    let status = model.status();
    let when = model
        .refreshed_at
        .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "-".into());
    let line = Line::from(vec![
        Span::styled(
            format!(" {title} "),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!(" {} ", status_word(status)),
            Style::new().fg(Color::Black).bg(color(status)),
        ),
        Span::raw(format!(
            "  {}",
            text(&say!("refreshed {when} ({} refreshes)", model.refreshes))
        )),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_services(frame: &mut Frame, area: Rect, model: &Model) {
    let visible = model.visible();
    let spark_width = 20usize;
    let rows: Vec<Row> = visible
        .iter()
        .map(|view| {
            let now = &view.now;
            let cpu = now
                .cpu_percent
                .map(|c| format!("{c:5.1}%"))
                .unwrap_or_else(|| "    -".into());
            let memory = match (now.memory_used, now.memory_limit) {
                (Some(used), Some(limit)) => {
                    format!("{} / {}", human_bytes(used), human_bytes(limit))
                }
                _ => "-".into(),
            };
            Row::new(vec![
                Cell::from(now.name.clone()),
                Cell::from(now.state.clone()).style(Style::new().fg(color(now.status))),
                Cell::from(now.health.clone().unwrap_or_else(|| "-".into())),
                Cell::from(status_word(now.status)).style(Style::new().fg(color(now.status))),
                Cell::from(now.restarts.to_string()),
                Cell::from(cpu),
                Cell::from(spark(view.cpu.iter().copied(), spark_width, Some(100.0))),
                Cell::from(memory),
                Cell::from(spark(
                    view.memory.iter().map(|m| *m as f64),
                    spark_width,
                    None,
                )),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(14),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(spark_width as u16),
        Constraint::Length(21),
        Constraint::Length(spark_width as u16),
    ];
    let headers = [
        "SERVICE",
        "STATE",
        "HEALTH",
        "STATUS",
        "RESTARTS",
        "CPU",
        "CPU HISTORY",
        "MEMORY",
        "MEMORY HISTORY",
    ];
    let title = if model.filter.is_empty() {
        text(&say!("services"))
    } else {
        text(&say!("services (filter: {})", model.filter))
    };
    let table = Table::new(rows, widths)
        .header(
            Row::new(headers.iter().map(|h| Cell::from(header(h))))
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(Block::bordered().title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut state = TableState::default();
    if !visible.is_empty() {
        state.select(Some(model.selected));
    }
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_panels(frame: &mut Frame, area: Rect, model: &Model) {
    let [probes, database, errors] = Layout::horizontal([
        Constraint::Percentage(45),
        Constraint::Percentage(25),
        Constraint::Percentage(30),
    ])
    .areas(area);
    let rows: Vec<Row> = model
        .probes
        .iter()
        .map(|p| {
            Row::new(vec![
                Cell::from(format!("{} {}", p.kind, p.name)),
                Cell::from(status_word(p.status)).style(Style::new().fg(color(p.status))),
                Cell::from(
                    p.latency_ms
                        .map(|l| format!("{l:.0} ms"))
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(p.summary.clone()),
            ])
        })
        .collect();
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(22),
                Constraint::Length(9),
                Constraint::Length(8),
                Constraint::Min(10),
            ],
        )
        .block(Block::bordered().title(text(&say!("probes")))),
        probes,
    );

    let mut lines: Vec<Line> = Vec::new();
    if model.connections.is_empty() {
        lines.push(Line::from(text(&say!("PostgreSQL sessions: -"))));
    } else {
        lines.push(Line::from(text(&say!("PostgreSQL sessions:"))));
        for (state, count) in &model.connections {
            lines.push(Line::from(format!("  {state}: {count}")));
        }
    }
    lines.push(Line::from(match &model.backup {
        Some(Ok(Some((_, age)))) => text(&say!("newest backup: {} ago", short_duration(*age))),
        Some(Ok(None)) => text(&say!("newest backup: none")),
        Some(Err(why)) => text(&say!("newest backup: unknown ({why})")),
        None => text(&say!("newest backup: -")),
    }));
    lines.push(Line::from(match &model.incidents {
        Some(Ok(open)) => text(&say!("open incidents: {open}")),
        Some(Err(why)) => text(&say!("open incidents: unknown ({why})")),
        None => text(&say!("open incidents: -")),
    }));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(text(&say!("database and data")))),
        database,
    );

    let counts: Vec<u64> = model.errors_per_minute.iter().map(|(_, c)| *c).collect();
    let last = counts.last().copied().unwrap_or(0);
    frame.render_widget(
        Sparkline::default()
            .data(&counts)
            .style(Style::new().fg(if last > 0 { Color::Red } else { Color::Green }))
            .block(Block::bordered().title(text(&say!("errors per minute (now {last})")))),
        errors,
    );
}

fn draw_log(frame: &mut Frame, area: Rect, model: &Model, name: &str) {
    let lines: Vec<Line> = match &model.log {
        Some((service, lines)) if service == name => {
            let height = area.height.saturating_sub(2) as usize;
            lines[lines.len().saturating_sub(height)..]
                .iter()
                .map(|l| Line::from(crate::output::escape_controls(l)))
                .collect()
        }
        _ => vec![Line::from(text(&say!("reading the log...")))],
    };
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(text(&say!("log of {name} (l closes)")))),
        area,
    );
}

fn draw_stats(frame: &mut Frame, area: Rect, model: &Model, name: &str) {
    let Some(view) = model.services.iter().find(|s| s.now.name == name) else {
        return;
    };
    let [cpu, memory, facts] = Layout::horizontal([
        Constraint::Percentage(35),
        Constraint::Percentage(35),
        Constraint::Percentage(30),
    ])
    .areas(area);
    let cpu_data: Vec<u64> = view.cpu.iter().map(|c| (c * 10.0) as u64).collect();
    frame.render_widget(
        Sparkline::default()
            .data(&cpu_data)
            .style(Style::new().fg(Color::Cyan))
            .block(Block::bordered().title(text(&say!(
                "CPU of {name}: {:.1}%",
                view.now.cpu_percent.unwrap_or(0.0)
            )))),
        cpu,
    );
    let memory_data: Vec<u64> = view.memory.iter().copied().collect();
    frame.render_widget(
        Sparkline::default()
            .data(&memory_data)
            .style(Style::new().fg(Color::Blue))
            .block(Block::bordered().title(text(&say!(
                "memory of {name}: {}",
                human_bytes(view.now.memory_used.unwrap_or(0))
            )))),
        memory,
    );
    let now = &view.now;
    let dash = |v: Option<u64>| v.map(human_bytes).unwrap_or_else(|| "-".into());
    let lines = vec![
        Line::from(format!(
            "{}: {}",
            header("CONTAINER"),
            now.container.clone().unwrap_or_else(|| "-".into())
        )),
        Line::from(format!(
            "{}: {} / {}",
            header("NET I/O"),
            dash(now.net_rx),
            dash(now.net_tx)
        )),
        Line::from(format!(
            "{}: {}",
            header("PIDS"),
            now.pids
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into())
        )),
        Line::from(now.summary.clone()),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(text(&say!("{name} (s closes)")))),
        facts,
    );
}

fn draw_footer(frame: &mut Frame, area: Rect, model: &Model) {
    let line = match &model.mode {
        Mode::Filter(typing) => text(&say!("filter: {typing}_  (Enter keeps it, Esc cancels)")),
        _ => match (&model.message, model.problems.first()) {
            (Some(message), _) => message.clone(),
            (None, Some(problem)) => {
                format!("{} · {}", text(problem), text(&say!("? help · q quit")))
            }
            (None, None) => text(&say!(
                "↑↓/jk select · l log · s stats · r restart · / filter · ? help · q quit"
            )),
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A rectangle of `width` x `height` in the middle of the screen.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn draw_help(frame: &mut Frame) {
    let area = centered(frame.area(), 60, 13);
    let lines: Vec<Line> = [
        say!("↑ ↓ or j k   select a service"),
        say!("l            the selected service's live log"),
        say!("s            its CPU and memory over time"),
        say!("r            restart it (asks first)"),
        say!("/            filter the services by name"),
        say!("Esc          close a pane, clear the filter"),
        say!("?            this help"),
        say!("q, Ctrl+C    quit"),
    ]
    .iter()
    .map(|l| Line::from(text(l)))
    .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(text(&say!("keys (any key closes)")))),
        area,
    );
}

fn draw_confirm(frame: &mut Frame, name: &str) {
    let area = centered(frame.area(), 50, 3);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(text(&say!("restart {name}? y / n")))
            .style(Style::new().add_modifier(Modifier::BOLD))
            .block(Block::bordered()),
        area,
    );
}
