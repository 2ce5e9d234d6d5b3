//! `gymops completions SHELL`: the shell's completion script. By default the script asks
//! gymops at completion time (clap_complete's dynamic protocol, `COMPLETE=SHELL gymops`),
//! so service names and incident IDs complete too; `--static` writes a script that needs
//! no gymops then (commands and flags only).

use std::io::Write;

use anyhow::{Context as _, Result};
use clap::CommandFactory;
use clap_complete::env::EnvCompleter;

use crate::cli::{Cli, CompletionShell, CompletionsArgs};
use crate::exit::{ExitStatus, Status};

/// The completion script, as text.
pub fn script(args: &CompletionsArgs) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut command = Cli::command();
    let name = command.get_name().to_string();
    if args.static_script {
        let shell = match args.shell {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
            CompletionShell::Powershell => clap_complete::Shell::PowerShell,
            CompletionShell::Elvish => clap_complete::Shell::Elvish,
        };
        clap_complete::generate(shell, &mut command, &name, &mut out);
        return Ok(out);
    }
    let shell: &dyn EnvCompleter = match args.shell {
        CompletionShell::Bash => &clap_complete::env::Bash,
        CompletionShell::Zsh => &clap_complete::env::Zsh,
        CompletionShell::Fish => &clap_complete::env::Fish,
        CompletionShell::Powershell => &clap_complete::env::Powershell,
        CompletionShell::Elvish => &clap_complete::env::Elvish,
    };
    // The completer is this binary by its full path, so that completion works whatever
    // PATH the shell has.
    let completer = std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| name.clone());
    shell
        .write_registration("COMPLETE", &name, &name, &completer, &mut out)
        .context("cannot write the completion script")?;
    Ok(out)
}

pub fn run(args: &CompletionsArgs) -> Result<ExitStatus> {
    let script = script(args)?;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&script).and_then(|_| stdout.flush()) {
        // `gymops completions bash | head`: the reader had enough.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(Status::Ok),
        written => {
            written.context("cannot write the completion script to stdout")?;
            Ok(Status::Ok)
        }
    }
}
