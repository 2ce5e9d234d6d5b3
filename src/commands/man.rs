//! `gymops man DIR`: a man page per command (clap_mangen), written to DIR.

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;

pub fn run(printer: &Printer, args: &ManArgs) -> Result<ExitStatus> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    // Pages are written beside each other under a temporary directory, then moved in: a
    // reader never finds half a page.
    let staging = args.dir.join(format!(".gymops-man-{}", std::process::id()));
    let result = stage_and_move(&staging, &args.dir);
    let _ = std::fs::remove_dir_all(&staging);
    let pages = result?;
    printer.emit(
        &format!(
            "{pages} man pages written to {} (read one with `man -l {}/gymops.1`, or add the directory to MANPATH)\n",
            args.dir.display(),
            args.dir.display()
        ),
        None,
    )?;
    Ok(Status::Ok)
}

/// Write every page under `staging`, then move each into `dir`; how many.
fn stage_and_move(staging: &std::path::Path, dir: &std::path::Path) -> Result<usize> {
    std::fs::create_dir(staging).with_context(|| format!("cannot write to {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), staging)
        .with_context(|| format!("cannot write the man pages to {}", dir.display()))?;
    let mut pages = 0;
    for entry in std::fs::read_dir(staging)? {
        let entry = entry?;
        std::fs::rename(entry.path(), dir.join(entry.file_name()))
            .with_context(|| format!("cannot write to {}", dir.display()))?;
        pages += 1;
    }
    Ok(pages)
}
