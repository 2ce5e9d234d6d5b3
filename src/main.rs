use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::CommandFactory;

use gymops::cli::Cli;
use gymops::exit::ERROR_EXIT_CODE;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        eprintln!("error: internal error: {message}");
        eprintln!("hint: this is a bug in gymops; please report it with the command you ran");
    }));

    // A shell asking for completions (`COMPLETE=bash gymops -- ...`): answered, then exit.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();

    // The language of help and parse errors, before the settings are read.
    let args: Vec<String> = std::env::args().collect();
    let environment: std::collections::BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    gymops::i18n::set(gymops::i18n::before_parse(&args, &environment));

    let parsed = gymops::i18n::localize_help(Cli::command())
        .try_get_matches()
        .and_then(|matches| <Cli as clap::FromArgMatches>::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            match gymops::i18n::parse_error(&err) {
                Some(text) => eprintln!("{text}"),
                None => {
                    let _ = err.print();
                }
            }
            return match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(ERROR_EXIT_CODE),
            };
        }
    };
    init_logging(cli.global.verbose, cli.global.quiet);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(ERROR_EXIT_CODE);
        }
    };
    let outcome = runtime.block_on(gymops::run(cli));
    // Never wait on stragglers (a DNS lookup, a hung connection) once the answer is known.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match outcome {
        Ok(status) => ExitCode::from(status.exit_code()),
        Err(err) => {
            let (message, hint) = gymops::error::describe_localized(&err);
            eprintln!(
                "{}",
                gymops::i18n::tr_args("error-line", &[("message", message)])
            );
            if let Some(hint) = hint {
                eprintln!(
                    "{}",
                    gymops::i18n::tr_args("hint-line", &[("message", hint)])
                );
            }
            ExitCode::from(ERROR_EXIT_CODE)
        }
    }
}

/// Logs go to stderr. Only gymops' own events are shown: dependencies stay at warn so that
/// no request, header or connection string reaches the log at any -v level.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!("warn,gymops={level}"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}
