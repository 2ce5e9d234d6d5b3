//! What the dashboard shows and how keys change it. Pure: snapshots of the deployment come
//! in ([`Model::apply`]), keys come in ([`Model::key`]), and the model says what the command
//! must do (restart a container, quit). Unit-tested without a terminal.

use std::collections::{BTreeMap, VecDeque};

use crate::exit::Status;

/// How many samples of history a sparkline keeps.
pub const HISTORY: usize = 60;
/// A message stays this many refreshes.
const MESSAGE_REFRESHES: u64 = 5;

/// A service as one refresh saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSample {
    pub name: String,
    pub container: Option<String>,
    pub state: String,
    pub health: Option<String>,
    pub restarts: i64,
    pub status: Status,
    pub summary: String,
    pub cpu_percent: Option<f64>,
    pub memory_used: Option<u64>,
    pub memory_limit: Option<u64>,
    pub net_rx: Option<u64>,
    pub net_tx: Option<u64>,
    pub pids: Option<u64>,
}

/// A probe (backend endpoint, PostgreSQL, MinIO) as one refresh saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub kind: String,
    pub name: String,
    pub status: Status,
    pub latency_ms: Option<f64>,
    pub summary: String,
}

/// One refresh of everything.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Unix seconds.
    pub at: i64,
    pub services: Vec<ServiceSample>,
    pub probes: Vec<Probe>,
    /// PostgreSQL sessions by state (active, idle, idle in transaction...).
    pub connections: Vec<(String, u64)>,
    /// ERROR events logged since the last refresh, per minute (minute start, count).
    pub errors: Vec<(i64, u64)>,
    /// The newest backup: (name, age in seconds), or why it is unknown.
    pub backup: Result<Option<(String, i64)>, String>,
    /// Open incidents, or why they could not be read.
    pub incidents: Result<usize, String>,
    /// Parts that could not be read this time.
    pub problems: Vec<String>,
    /// The selected service's last log lines (when the log pane is open).
    pub log: Option<(String, Vec<String>)>,
}

/// A service with its history.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    pub now: ServiceSample,
    /// CPU % per refresh (oldest first).
    pub cpu: VecDeque<f64>,
    /// Memory used, bytes.
    pub memory: VecDeque<u64>,
}

/// What the screen is showing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Normal,
    /// Typing a filter.
    Filter(String),
    /// Asking whether to restart this service.
    Confirm(String),
    Help,
    /// The live log of a service.
    Log(String),
    /// A service's stats with larger graphs.
    Stats(String),
}

/// A key, as the model understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    Enter,
    Esc,
    Backspace,
    Char(char),
    /// Ctrl+C.
    Interrupt,
}

/// What the command must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Nothing,
    Quit,
    Restart(String),
    /// Fetch again now (a pane that needs data was opened).
    Refresh,
}

#[derive(Debug, Default)]
pub struct Model {
    pub services: Vec<ServiceView>,
    pub probes: Vec<Probe>,
    pub connections: Vec<(String, u64)>,
    /// ERROR events per minute (minute start, count), oldest first.
    pub errors_per_minute: VecDeque<(i64, u64)>,
    pub backup: Option<Result<Option<(String, i64)>, String>>,
    pub incidents: Option<Result<usize, String>>,
    pub problems: Vec<String>,
    pub log: Option<(String, Vec<String>)>,
    pub selected: usize,
    pub filter: String,
    pub mode: Mode,
    /// A line for the operator: what happened (restarted, failed...), for a few refreshes.
    pub message: Option<String>,
    message_since: u64,
    pub refreshed_at: Option<i64>,
    pub refreshes: u64,
}

impl Model {
    /// Take in a refresh: current values, and one more point of each history.
    pub fn apply(&mut self, snapshot: Snapshot) {
        let mut old: BTreeMap<String, ServiceView> = self
            .services
            .drain(..)
            .map(|view| (view.now.name.clone(), view))
            .collect();
        for sample in snapshot.services {
            let mut view = old.remove(&sample.name).unwrap_or(ServiceView {
                now: sample.clone(),
                cpu: VecDeque::new(),
                memory: VecDeque::new(),
            });
            push(&mut view.cpu, sample.cpu_percent.unwrap_or(0.0));
            push(&mut view.memory, sample.memory_used.unwrap_or(0));
            view.now = sample;
            self.services.push(view);
        }
        self.probes = snapshot.probes;
        self.connections = snapshot.connections;
        // Every minute up to now has a point, zero when nothing was logged.
        let now = snapshot.at.div_euclid(60) * 60;
        let counts: BTreeMap<i64, u64> = self
            .errors_per_minute
            .drain(..)
            .chain(snapshot.errors)
            .fold(BTreeMap::new(), |mut map, (minute, count)| {
                *map.entry(minute).or_default() += count;
                map
            });
        let first = counts
            .keys()
            .next()
            .copied()
            .unwrap_or(now)
            .max(now - (HISTORY as i64 - 1) * 60);
        self.errors_per_minute = (0..)
            .map(|i| first + i * 60)
            .take_while(|minute| *minute <= now)
            .map(|minute| (minute, counts.get(&minute).copied().unwrap_or(0)))
            .collect();
        self.backup = Some(snapshot.backup);
        self.incidents = Some(snapshot.incidents);
        self.problems = snapshot.problems;
        if snapshot.log.is_some() {
            self.log = snapshot.log;
        }
        self.refreshed_at = Some(snapshot.at);
        self.refreshes += 1;
        if self.refreshes > self.message_since + MESSAGE_REFRESHES {
            self.message = None;
        }
        let visible = self.visible().len();
        if self.selected >= visible {
            self.selected = visible.saturating_sub(1);
        }
    }

    /// The services the filter lets through, in order.
    pub fn visible(&self) -> Vec<&ServiceView> {
        let filter = match &self.mode {
            Mode::Filter(typing) => typing.as_str(),
            _ => self.filter.as_str(),
        }
        .to_lowercase();
        self.services
            .iter()
            .filter(|s| filter.is_empty() || s.now.name.to_lowercase().contains(&filter))
            .collect()
    }

    /// The selected service's name.
    pub fn selected_name(&self) -> Option<String> {
        self.visible()
            .get(self.selected)
            .map(|s| s.now.name.clone())
    }

    /// The worst status on the screen.
    pub fn status(&self) -> Status {
        Status::combine(
            self.services
                .iter()
                .map(|s| s.now.status)
                .chain(self.probes.iter().map(|p| p.status)),
        )
    }

    /// Show `message` for the next few refreshes.
    pub fn tell(&mut self, message: String) {
        self.message = Some(message);
        self.message_since = self.refreshes;
    }

    pub fn key(&mut self, key: Key) -> Action {
        if key == Key::Interrupt {
            return Action::Quit;
        }
        match self.mode.clone() {
            Mode::Filter(mut typing) => {
                match key {
                    Key::Enter => {
                        self.filter = typing;
                        self.mode = Mode::Normal;
                        self.selected = 0;
                    }
                    Key::Esc => self.mode = Mode::Normal,
                    Key::Backspace => {
                        typing.pop();
                        self.mode = Mode::Filter(typing);
                    }
                    Key::Char(c) => {
                        typing.push(c);
                        self.mode = Mode::Filter(typing);
                    }
                    _ => {}
                }
                Action::Nothing
            }
            Mode::Confirm(service) => {
                self.mode = Mode::Normal;
                if key == Key::Char('y') || key == Key::Char('Y') {
                    self.tell(crate::i18n::text(&crate::say!("restarting {service}...")));
                    Action::Restart(service)
                } else {
                    self.tell(crate::i18n::text(&crate::say!(
                        "restart of {service} cancelled"
                    )));
                    Action::Nothing
                }
            }
            Mode::Help => {
                self.mode = Mode::Normal;
                if key == Key::Char('q') {
                    return Action::Quit;
                }
                Action::Nothing
            }
            Mode::Normal | Mode::Log(_) | Mode::Stats(_) => self.normal_key(key),
        }
    }

    fn normal_key(&mut self, key: Key) -> Action {
        let count = self.visible().len();
        match key {
            Key::Char('q') => Action::Quit,
            Key::Esc => {
                if self.mode == Mode::Normal && !self.filter.is_empty() {
                    self.filter.clear();
                }
                self.mode = Mode::Normal;
                Action::Nothing
            }
            Key::Up | Key::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                self.follow_selection()
            }
            Key::Down | Key::Char('j') => {
                if self.selected + 1 < count {
                    self.selected += 1;
                }
                self.follow_selection()
            }
            Key::Char('/') => {
                self.mode = Mode::Filter(self.filter.clone());
                Action::Nothing
            }
            Key::Char('?') => {
                self.mode = Mode::Help;
                Action::Nothing
            }
            Key::Char('l') => match self.selected_name() {
                Some(name) if self.mode == Mode::Log(name.clone()) => {
                    self.mode = Mode::Normal;
                    Action::Nothing
                }
                Some(name) => {
                    self.log = None;
                    self.mode = Mode::Log(name);
                    Action::Refresh
                }
                None => Action::Nothing,
            },
            Key::Char('s') => match self.selected_name() {
                Some(name) if self.mode == Mode::Stats(name.clone()) => {
                    self.mode = Mode::Normal;
                    Action::Nothing
                }
                Some(name) => {
                    self.mode = Mode::Stats(name);
                    Action::Nothing
                }
                None => Action::Nothing,
            },
            Key::Char('r') => {
                if let Some(name) = self.selected_name() {
                    self.mode = Mode::Confirm(name);
                }
                Action::Nothing
            }
            _ => Action::Nothing,
        }
    }

    /// An open log or stats pane follows the selection.
    fn follow_selection(&mut self) -> Action {
        let Some(name) = self.selected_name() else {
            return Action::Nothing;
        };
        match &self.mode {
            Mode::Log(current) if *current != name => {
                self.log = None;
                self.mode = Mode::Log(name);
                Action::Refresh
            }
            Mode::Stats(current) if *current != name => {
                self.mode = Mode::Stats(name);
                Action::Nothing
            }
            _ => Action::Nothing,
        }
    }

    /// The service whose log the next refresh must fetch.
    pub fn log_wanted(&self) -> Option<String> {
        match &self.mode {
            Mode::Log(name) => Some(name.clone()),
            _ => None,
        }
    }
}

fn push<T>(history: &mut VecDeque<T>, value: T) {
    history.push_back(value);
    while history.len() > HISTORY {
        history.pop_front();
    }
}

/// A sparkline of `values` in block characters, the last `width` of them, scaled to `max`
/// (or to the largest value when `max` is None).
pub fn spark(values: impl IntoIterator<Item = f64>, width: usize, max: Option<f64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let values: Vec<f64> = values.into_iter().collect();
    let tail = &values[values.len().saturating_sub(width)..];
    let top = max
        .unwrap_or_else(|| tail.iter().cloned().fold(0.0, f64::max))
        .max(f64::EPSILON);
    tail.iter()
        .map(|v| {
            let level = ((v / top).clamp(0.0, 1.0) * 7.0).round() as usize;
            BARS[level]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, status: Status, cpu: f64) -> ServiceSample {
        ServiceSample {
            name: name.into(),
            container: Some(format!("gym_{name}_1")),
            state: if status == Status::Ok {
                "running"
            } else {
                "exited"
            }
            .into(),
            health: None,
            restarts: 0,
            status,
            summary: String::new(),
            cpu_percent: Some(cpu),
            memory_used: Some(1 << 20),
            memory_limit: Some(1 << 30),
            net_rx: None,
            net_tx: None,
            pids: None,
        }
    }

    fn snapshot(at: i64, services: Vec<ServiceSample>, errors: u64) -> Snapshot {
        Snapshot {
            at,
            services,
            errors: vec![(at.div_euclid(60) * 60, errors)],
            probes: Vec::new(),
            connections: Vec::new(),
            backup: Ok(None),
            incidents: Ok(0),
            problems: Vec::new(),
            log: None,
        }
    }

    #[test]
    fn refreshes_build_history_and_errors_per_minute() {
        let mut model = Model::default();
        model.apply(snapshot(600, vec![sample("backend", Status::Ok, 10.0)], 2));
        model.apply(snapshot(630, vec![sample("backend", Status::Ok, 30.0)], 3));
        model.apply(snapshot(
            661,
            vec![sample("backend", Status::Critical, 0.0)],
            1,
        ));
        assert_eq!(model.services[0].cpu, [10.0, 30.0, 0.0]);
        assert_eq!(model.errors_per_minute, [(600, 5), (660, 1)]);
        assert_eq!(model.status(), Status::Critical);
        assert_eq!(model.refreshes, 3);
        // A quiet stretch is zeros, not a gap.
        model.apply(snapshot(845, vec![sample("backend", Status::Ok, 0.0)], 0));
        assert_eq!(
            model.errors_per_minute,
            [(600, 5), (660, 1), (720, 0), (780, 0), (840, 0)]
        );
    }

    #[test]
    fn keys_select_filter_confirm_and_quit() {
        let mut model = Model::default();
        model.apply(snapshot(
            0,
            vec![
                sample("backend", Status::Ok, 1.0),
                sample("postgres", Status::Ok, 1.0),
                sample("minio", Status::Ok, 1.0),
            ],
            0,
        ));
        assert_eq!(model.key(Key::Down), Action::Nothing);
        assert_eq!(model.key(Key::Char('j')), Action::Nothing);
        assert_eq!(model.key(Key::Down), Action::Nothing, "stays on the last");
        assert_eq!(model.selected_name().as_deref(), Some("minio"));
        model.key(Key::Char('k'));
        assert_eq!(model.selected_name().as_deref(), Some("postgres"));
        // Filter: typing narrows at once, Enter keeps it, Esc clears it.
        model.key(Key::Char('/'));
        for c in "back".chars() {
            model.key(Key::Char(c));
        }
        assert_eq!(model.visible().len(), 1);
        model.key(Key::Enter);
        assert_eq!(
            (model.filter.as_str(), model.selected_name().as_deref()),
            ("back", Some("backend"))
        );
        model.key(Key::Esc);
        assert_eq!(model.visible().len(), 3);
        // Restart asks first; anything but y cancels.
        model.key(Key::Char('r'));
        assert_eq!(model.mode, Mode::Confirm("backend".into()));
        assert_eq!(model.key(Key::Char('n')), Action::Nothing);
        model.key(Key::Char('r'));
        assert_eq!(model.key(Key::Char('y')), Action::Restart("backend".into()));
        // The log pane asks for data and follows the selection.
        assert_eq!(model.key(Key::Char('l')), Action::Refresh);
        assert_eq!(model.log_wanted().as_deref(), Some("backend"));
        assert_eq!(model.key(Key::Down), Action::Refresh);
        assert_eq!(model.log_wanted().as_deref(), Some("postgres"));
        model.key(Key::Char('?'));
        assert_eq!(model.mode, Mode::Help);
        assert_eq!(model.key(Key::Char('x')), Action::Nothing);
        assert_eq!(model.key(Key::Char('q')), Action::Quit);
        assert_eq!(model.key(Key::Interrupt), Action::Quit);
    }

    #[test]
    fn sparklines_scale_to_the_maximum() {
        assert_eq!(spark([0.0, 50.0, 100.0], 10, Some(100.0)), "▁▅█");
        assert_eq!(spark([1.0, 2.0, 3.0, 4.0], 2, None), "▆█");
        assert_eq!(spark([], 5, None), "");
    }
}
