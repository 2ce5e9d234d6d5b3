//! gymops: operations CLI for the fitness-gym system's Docker deployment.

pub mod backup;
pub(crate) mod checklist;
pub(crate) mod chunks;
pub mod cli;
pub(crate) mod clients;
pub(crate) mod commands;
pub mod compose;
pub(crate) mod dashboard;
pub(crate) mod deadline;
pub(crate) mod deploy;
pub(crate) mod docker;
pub mod error;
pub mod exit;
pub(crate) mod fsutil;
pub(crate) mod hostfs;
pub mod i18n;
pub(crate) mod incident;
pub(crate) mod jvm;
pub(crate) mod load;
pub(crate) mod lock;
pub mod logs;
pub(crate) mod metrics;
pub(crate) mod monitoring;
pub(crate) mod netutil;
pub(crate) mod notify;
pub(crate) mod output;
pub(crate) mod pg;
pub(crate) mod probe;
pub(crate) mod random;
pub(crate) mod schedule;
pub mod settings;
pub(crate) mod signals;
pub(crate) mod watch;

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};

use cli::{
    AlertCommand, Cli, Command, ConfigCommand, DbCommand, MetricsCommand, MonitoringCommand,
    PerfCommand, ServiceCommand,
};
use commands::Context;
use exit::ExitStatus;
use output::Printer;

/// When gymops.yaml (and the environment) set no project name, the compose files' top-level
/// `name` is the project's name, as it is to docker compose.
fn compose_project_name(loaded: &mut settings::Loaded, environment: &BTreeMap<String, String>) {
    let Some(entry) = loaded.entries.iter_mut().find(|e| e.key == "project") else {
        return;
    };
    if !matches!(entry.source, settings::Source::Default) {
        return;
    }
    let files: Vec<std::path::PathBuf> = loaded
        .settings
        .environments
        .get(&loaded.settings.environment)
        .map(|e| {
            e.compose_files
                .iter()
                .map(|f| loaded.base_dir.join(f))
                .collect()
        })
        .unwrap_or_default();
    if let Some((name, file)) = compose::declared_name(&files, environment) {
        let name = docker::resolve::normalize_project(&name);
        if name.is_empty() {
            return;
        }
        loaded.settings.project = name.clone();
        entry.value = name;
        entry.source = settings::Source::File { path: file };
    }
}

/// Resolve settings once, then dispatch to the command.
pub async fn run(cli: Cli) -> Result<ExitStatus> {
    let printer = Printer::new(cli.global.output, cli.global.quiet);
    // What needs no settings (a broken gymops.yaml must not stop them).
    if let Command::Completions(args) = &cli.command {
        return commands::completions::run(args);
    }
    if let Command::Man(args) = &cli.command {
        return commands::man::run(&printer, args);
    }
    let environment: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let overrides = cli.overrides();
    let mut loaded = settings::load(&overrides, &environment, &cwd)?;
    i18n::remember_flag(cli.global.lang);
    i18n::set(i18n::choose(
        cli.global.lang,
        loaded.settings.lang,
        &environment,
    ));
    compose_project_name(&mut loaded, &environment);
    for warning in &loaded.warnings {
        printer.warn(warning);
    }
    let ctx = Context::new(printer, loaded, environment);
    match &cli.command {
        Command::Health(args) => commands::health::run(&ctx, args).await,
        Command::Ps(args) | Command::Service(ServiceCommand::Ps(args)) => {
            commands::ps::run(&ctx, args).await
        }
        Command::Service(ServiceCommand::Config(args)) => commands::service_config::run(&ctx, args),
        Command::Config(ConfigCommand::Show) => commands::config::show::run(&ctx),
        Command::Config(ConfigCommand::Check) => commands::config::check::run(&ctx),
        Command::Logs(args) => commands::logs::run(&ctx, args).await,
        Command::Disk(args) => commands::disk::run(&ctx, args).await,
        Command::Prune(args) => commands::prune::run(&ctx, args).await,
        Command::Dashboard(args) => commands::dashboard::run(&ctx, args).await,
        Command::Perf(PerfCommand::Stats(args)) => commands::perf::stats::run(&ctx, args).await,
        Command::Perf(PerfCommand::Top(args)) => commands::perf::top::run(&ctx, args).await,
        Command::Perf(PerfCommand::Db(args)) => commands::perf::db::run(&ctx, args).await,
        Command::Perf(PerfCommand::Api(args)) => commands::perf::api::run(&ctx, args).await,
        Command::Perf(PerfCommand::Load(args)) => commands::perf::load::run(&ctx, args).await,
        Command::Perf(PerfCommand::Jvm(args)) => commands::perf::jvm::run(&ctx, args).await,
        Command::Db(DbCommand::Maintain(operation)) => {
            commands::db::maintain::run(&ctx, operation).await
        }
        Command::Monitor(args) => commands::monitor::run(&ctx, args).await,
        Command::Check(args) => commands::check::run(&ctx, args).await,
        Command::Backup(command) => commands::backup::run(&ctx, command).await,
        Command::Dr(command) => commands::dr::run(&ctx, command).await,
        Command::Alert(AlertCommand::Send(args)) => commands::alert::send(&ctx, args).await,
        Command::Metrics(MetricsCommand::Serve(args)) => commands::metrics::serve(&ctx, args).await,
        Command::Metrics(MetricsCommand::Export(args)) => {
            commands::metrics::export(&ctx, args).await
        }
        Command::Monitoring(MonitoringCommand::Init(args)) => {
            commands::monitoring::init(&ctx, args)
        }
        Command::Schedule(command) => commands::schedule::run(&ctx, command),
        Command::Incident(command) => commands::incident::run(&ctx, command).await,
        Command::Up(args) | Command::Service(ServiceCommand::Up(args)) => {
            commands::deploy::up(&ctx, args).await
        }
        Command::Down(args) | Command::Service(ServiceCommand::Down(args)) => {
            commands::deploy::down(&ctx, args).await
        }
        Command::Stop(args) | Command::Service(ServiceCommand::Stop(args)) => {
            commands::deploy::lifecycle(&ctx, args, commands::deploy::Verb::Stop).await
        }
        Command::Start(args) | Command::Service(ServiceCommand::Start(args)) => {
            commands::deploy::lifecycle(&ctx, args, commands::deploy::Verb::Start).await
        }
        Command::Rollback(args) => commands::deploy::rollback(&ctx, args).await,
        Command::Releases => commands::deploy::releases(&ctx).await,
        Command::Context(cli::ContextCommand::Ls) => commands::context::ls(&ctx).await,
        Command::Completions(args) => commands::completions::run(args),
        Command::Man(args) => commands::man::run(&ctx.printer, args),
        Command::Fleet(args) => {
            // Each site: this run's files, environment and flags, with `--site NAME`.
            let environment = ctx.environment.clone();
            let load_site: commands::fleet::SiteLoader = std::sync::Arc::new(move |name: &str| {
                let mut overrides = overrides.clone();
                overrides.site = Some(name.to_string());
                overrides.sites_checked = true;
                let mut loaded = settings::load(&overrides, &environment, &cwd)?;
                compose_project_name(&mut loaded, &environment);
                Ok(loaded)
            });
            commands::fleet::run(&ctx, args, load_site).await
        }
        Command::Restart(args) | Command::Service(ServiceCommand::Restart(args)) => {
            commands::deploy::lifecycle(&ctx, args, commands::deploy::Verb::Restart).await
        }
    }
}

#[cfg(test)]
mod layering {
    use std::path::{Path, PathBuf};

    /// `file:line: text` of every line of the .rs files under `src/DIR` (all of src for "")
    /// that contains one of `forbidden`, leaving out the paths `skip` (relative to src).
    fn imports(dir: &str, forbidden: &[&str], skip: &[&str]) -> Vec<String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src.join(dir)];
        let mut found = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
                let path: PathBuf = entry.path();
                let relative = path.strip_prefix(&src).unwrap().to_path_buf();
                if skip.iter().any(|s| relative == Path::new(s)) {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (number, line) in text.lines().enumerate() {
                    if forbidden.iter().any(|f| line.contains(f)) {
                        found.push(format!(
                            "src/{}:{}: {}",
                            relative.display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
        found
    }

    /// Layers import only downward: nothing below `src/commands/` (but this file, the
    /// dispatch) uses `crate::commands`. A lower module that needs something a command
    /// holds means that thing belongs lower.
    #[test]
    fn nothing_below_the_commands_imports_them() {
        let found = imports(
            "",
            &["crate::commands", "gymops::commands"],
            &["commands", "lib.rs", "main.rs"],
        );
        assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
    }

    /// The lower layers among themselves: docker knows nothing of deploy, settings nothing
    /// of the probes or the engine.
    #[test]
    fn lower_layers_do_not_reach_up() {
        let mut found = imports(
            "docker",
            &["crate::deploy", "crate::incident", "crate::backup"],
            &[],
        );
        found.extend(imports(
            "settings",
            &["crate::probe", "crate::docker", "crate::deploy"],
            &[],
        ));
        found.extend(imports("probe", &["crate::deploy", "crate::incident"], &[]));
        assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
    }

    /// One engine connection and one HTTP client per run, in `clients.rs`: nothing else
    /// connects or builds its own (the Engine's own TLS transport for raw API calls aside).
    #[test]
    fn clients_are_made_in_one_place() {
        let found = imports(
            "",
            &["Engine::connect(", "reqwest::Client::builder", "Http::new("],
            &[
                "clients.rs",
                "netutil.rs",
                "docker/mod.rs",
                "docker/raw.rs",
                "lib.rs",
            ],
        );
        assert!(
            found.is_empty(),
            "clients made outside clients.rs:\n{}",
            found.join("\n")
        );
    }
}
