//! `gymops dashboard`: the deployment on one screen (ratatui), refreshed every interval,
//! with keys to follow a log, see a service's stats, restart it, filter, get help and quit.
//! The terminal is always given back as it was: on q, Ctrl+C, SIGTERM, an error or a panic.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{anyhow, Result};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc;

use super::Context;
use crate::cli::DashboardArgs;
use crate::dashboard::collect::Collector;
use crate::dashboard::model::{Action, Key, Model, Snapshot};
use crate::dashboard::view;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};

pub async fn run(ctx: &Context, args: &DashboardArgs) -> Result<ExitStatus> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(anyhow!(
            "gymops dashboard needs a terminal, and this run has none"
        ))
        .hint("in a pipe, a script or cron use `gymops health --watch`, `gymops ps --watch` or `gymops monitor --interval 1m`");
    }
    let settings = ctx.settings();
    // Before the screen is taken: an engine that cannot be reached is an ordinary error.
    let engine = ctx.engine().await?;
    let collector = Collector::new(
        settings,
        &ctx.clients,
        engine,
        ctx.loaded.resolve_path(&settings.backup.dir),
        crate::incident::store::dir_of(None, &ctx.loaded),
    );
    let title = format!("gymops · {} · {}", settings.project, engine.address);
    let mut screen = Screen::enter()?;
    let grace = settings.deploy.stop_timeout;
    let result = run_screen(&mut screen, collector, engine, &title, args.interval, grace).await;
    drop(screen);
    result.map(|_| Status::Ok)
}

/// The terminal in raw mode on the alternate screen, given back when dropped (and by
/// ratatui's panic hook on a panic).
struct Screen {
    terminal: ratatui::DefaultTerminal,
}

impl Screen {
    fn enter() -> Result<Screen> {
        let terminal = ratatui::try_init().map_err(|err| {
            ratatui::restore();
            anyhow!("cannot take over the terminal: {err}")
        })?;
        Ok(Screen { terminal })
    }

    fn draw(&mut self, model: &Model, title: &str) -> Result<()> {
        self.terminal
            .draw(|frame| view::draw(frame, model, title))
            .map(|_| ())
            .map_err(|err| anyhow!("cannot draw on the terminal: {err}"))
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.terminal.show_cursor();
        ratatui::restore();
    }
}

/// Terminal events, read on a thread of their own (crossterm's reads block).
fn events() -> (
    mpsc::UnboundedReceiver<Event>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => match event::read() {
                    Ok(event) => {
                        if sender.send(event).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    (receiver, stop)
}

/// A key the model understands (presses only: Windows reports releases too).
fn key_of(event: &Event) -> Option<Key> {
    let Event::Key(key) = event else {
        return None;
    };
    if key.kind != KeyEventKind::Press {
        return None;
    }
    Some(match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Key::Interrupt,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Char(c) => Key::Char(c),
        _ => return None,
    })
}

/// A refresh under way: it hands the collector back with the snapshot.
type Refresh<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Collector<'a>, Snapshot)> + 'a>>;

async fn run_screen(
    screen: &mut Screen,
    collector: Collector<'_>,
    engine: &crate::docker::Engine,
    title: &str,
    interval: Duration,
    grace: Duration,
) -> Result<()> {
    let mut model = Model::default();
    let (mut keys, stop_keys) = events();
    let _stop_keys = StopOnDrop(stop_keys);
    let stop = crate::signals::terminated();
    tokio::pin!(stop);
    // The collector goes into the refresh under way and comes back with its snapshot.
    let mut idle = Some(collector);
    let mut refresh: Option<Refresh<'_>> = None;
    let mut restart: Option<(String, tokio::task::JoinHandle<Result<()>>)> = None;
    let mut next = tokio::time::Instant::now();
    // Asked to quit while a restart runs: the restart is finished first (ending it half-way
    // would leave the container stopped).
    let mut quitting = false;
    loop {
        if refresh.is_none() && tokio::time::Instant::now() >= next {
            if let Some(mut collector) = idle.take() {
                let log = model.log_wanted();
                refresh = Some(Box::pin(async move {
                    let snapshot = collector.snapshot(log).await;
                    (collector, snapshot)
                }));
                next = tokio::time::Instant::now() + interval;
            }
        }
        screen.draw(&model, title)?;
        tokio::select! {
            (collector, snapshot) = async { refresh.as_mut().expect("guarded").await }, if refresh.is_some() => {
                refresh = None;
                idle = Some(collector);
                model.apply(snapshot);
            }
            event = keys.recv() => {
                let Some(event) = event else { return Ok(()) };
                let Some(key) = key_of(&event) else { continue };
                match model.key(key) {
                    Action::Quit if restart.is_none() => return Ok(()),
                    Action::Quit => {
                        quitting = true;
                        let (service, _) = restart.as_ref().expect("guarded");
                        model.tell(crate::i18n::text(&crate::say!("waiting for the restart of {service} to finish, then quitting")));
                    }
                    Action::Refresh => next = tokio::time::Instant::now(),
                    Action::Restart(service) => {
                        let container = model
                            .services
                            .iter()
                            .find(|s| s.now.name == service)
                            .and_then(|s| s.now.container.clone());
                        match (container, &restart) {
                            (_, Some((busy, _))) => {
                                model.tell(crate::i18n::text(&crate::say!("{busy} is still restarting")));
                            }
                            (None, None) => {
                                model.tell(crate::i18n::text(&crate::say!("{service} has no container to restart")));
                            }
                            (Some(container), None) => {
                                let engine = engine.clone();
                                restart = Some((service, tokio::spawn(async move {
                                    engine.stop(&container, grace).await?;
                                    engine.start(&container).await
                                })));
                            }
                        }
                    }
                    Action::Nothing => {}
                }
            }
            done = async { (&mut restart.as_mut().expect("guarded").1).await }, if restart.is_some() => {
                let (service, _) = restart.take().expect("guarded");
                model.tell(match done {
                    Ok(Ok(())) => crate::i18n::text(&crate::say!("{service} restarted")),
                    Ok(Err(err)) => crate::i18n::text(&crate::say!("restart of {service} failed: {}", crate::error::describe(&err).0)),
                    Err(err) => crate::i18n::text(&crate::say!("restart of {service} failed: {err}")),
                });
                if quitting {
                    return Ok(());
                }
                next = tokio::time::Instant::now();
            }
            _ = tokio::time::sleep_until(next), if refresh.is_none() => {}
            _ = &mut stop, if !quitting => {
                if restart.is_none() {
                    return Ok(());
                }
                quitting = true;
            }
        }
    }
}

struct StopOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
