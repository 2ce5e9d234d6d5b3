//! `gymops schedule print | install | remove`: the guide's scheduled jobs for cron, Windows
//! Task Scheduler and systemd, from `schedule.jobs` in settings.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, Context as _, Result};
use clap::Parser;
use serde::Serialize;

use super::Context;
use crate::cli::{Cli, InstallTarget, ScheduleCommand, ScheduleInstallArgs, ScheduleTarget};
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::schedule::{self, Job};

#[derive(Serialize)]
struct PrintedJob<'a> {
    #[serde(flatten)]
    job: &'a Job,
    cron: String,
    on_calendar: String,
}

pub fn run(ctx: &Context, command: &ScheduleCommand) -> Result<ExitStatus> {
    match command {
        ScheduleCommand::Print(args) => print(ctx, args.target),
        ScheduleCommand::Install(args) => match args.target {
            InstallTarget::Cron => cron(ctx, args, true),
            InstallTarget::Systemd => systemd(ctx, args, true),
            InstallTarget::Windows => windows(ctx, true),
        },
        ScheduleCommand::Remove(args) => match args.target {
            InstallTarget::Cron => cron(ctx, args, false),
            InstallTarget::Systemd => systemd(ctx, args, false),
            InstallTarget::Windows => windows(ctx, false),
        },
    }
}

/// Does a job's argument list parse as a gymops command line?
fn valid_gymops_args(args: &[String]) -> Result<(), String> {
    let argv = std::iter::once("gymops".to_string()).chain(args.iter().cloned());
    Cli::try_parse_from(argv).map(|_| ()).map_err(|err| {
        err.to_string()
            .lines()
            .next()
            .unwrap_or("invalid arguments")
            .trim_start_matches("error: ")
            .to_string()
    })
}

/// Whose schedule this is: the project, or with `--site` the project's site (so that two
/// sites' crontab blocks, units and tasks never replace each other).
fn owner(ctx: &Context) -> String {
    let project = &ctx.settings().project;
    match &ctx.loaded.site {
        Some(site) => format!("{project}-{}", site.to_ascii_lowercase()),
        None => project.clone(),
    }
}

/// The enabled jobs of settings, ready to render.
fn jobs(ctx: &Context) -> Result<Vec<Job>> {
    let settings = ctx.settings();
    let program = match &settings.schedule.binary {
        Some(path) => ctx.loaded.resolve_path(path),
        None => std::env::current_exe()
            .and_then(dunce::canonicalize)
            .context("cannot tell where the gymops binary is")
            .hint("set schedule.binary in gymops.yaml")?,
    };
    let working_dir = match &settings.schedule.working_dir {
        Some(dir) => ctx.loaded.resolve_path(dir),
        None => ctx.loaded.base_dir.clone(),
    };
    // dunce: on Windows `C:\\...` rather than the `\\\\?\\C:\\...` form Task Scheduler and
    // the programs it starts may not take; the same as canonicalize elsewhere.
    let working_dir = dunce::canonicalize(&working_dir).unwrap_or(working_dir);
    let mut leading = Vec::new();
    if let Some(config) = &ctx.loaded.config_file {
        let config = dunce::canonicalize(config).unwrap_or_else(|_| config.clone());
        leading.push("--config".to_string());
        leading.push(config.to_string_lossy().into_owned());
    }
    if let Some(site) = &ctx.loaded.site {
        leading.push("--site".into());
        leading.push(site.clone());
    }
    leading.push("--environment".into());
    leading.push(settings.environment.clone());
    schedule::check_names(&owner(ctx), &settings.schedule.name_prefix)?;
    settings
        .schedule
        .jobs
        .iter()
        .filter(|(_, job)| job.enabled)
        .map(|(name, job)| {
            schedule::prepare(
                name,
                job,
                &program,
                &working_dir,
                &leading,
                valid_gymops_args,
            )
        })
        .collect()
}

/// The account systemd runs the jobs as: `schedule.user`, never root unless it says so.
fn service_user(ctx: &Context) -> Result<String> {
    match &ctx.settings().schedule.user {
        Some(user) => {
            schedule::check_user(user)?;
            Ok(user.clone())
        }
        None => Err(anyhow!(
            "schedule.user is not set: the systemd units would run the jobs as root"
        ))
        .hint("set schedule.user to the account the jobs run as (a member of the docker group), or to root on purpose"),
    }
}

fn print(ctx: &Context, target: ScheduleTarget) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let jobs = jobs(ctx)?;
    let project = &owner(ctx);
    let prefix = &settings.schedule.name_prefix;
    let user = match target {
        ScheduleTarget::Systemd => Some(service_user(ctx)?),
        _ => None,
    };
    let printed: Vec<PrintedJob> = jobs
        .iter()
        .map(|job| PrintedJob {
            job,
            cron: schedule::cron_line(job),
            on_calendar: schedule::on_calendar(job),
        })
        .collect();
    ctx.printer.emit_result(&printed, None, |_| match target {
        ScheduleTarget::Cron => schedule::cron_block(project, &jobs),
        ScheduleTarget::Windows => schedule::powershell(project, prefix, &jobs),
        ScheduleTarget::Systemd => {
            let Some(user) = &user else {
                return String::new();
            };
            let mut text = String::new();
            for job in &jobs {
                let name = schedule::unit_name(prefix, job);
                let (service, timer) = schedule::systemd_units(project, prefix, user, job);
                text.push_str(&format!(
                    "### {name}.service\n{service}\n### {name}.timer\n{timer}\n"
                ));
            }
            text
        }
    })?;
    Ok(Status::Ok)
}

/// The crontab's text: the file's, or `crontab -l`'s (none yet is empty).
fn read_crontab(file: Option<&Path>) -> Result<String> {
    if let Some(path) = file {
        return match std::fs::read_to_string(path) {
            Ok(text) => Ok(text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
    }
    let output = Command::new("crontab")
        .arg("-l")
        .stdin(Stdio::null())
        .output()
        .context("cannot run `crontab -l`")
        .hint("install cron (Debian: apt-get install cron), or use --crontab-file PATH")?;
    if output.status.success() {
        return String::from_utf8(output.stdout).context("the crontab is not UTF-8");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("no crontab") {
        return Ok(String::new());
    }
    Err(anyhow!("`crontab -l` failed: {}", stderr.trim()))
}

/// A file's Unix mode, to keep it when the file is rewritten (None on Windows).
#[cfg(unix)]
fn existing_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn existing_mode(_: &Path) -> Option<u32> {
    None
}

fn write_crontab(file: Option<&Path>, text: &str) -> Result<()> {
    if let Some(path) = file {
        let mode = existing_mode(path).unwrap_or(0o600);
        return crate::fsutil::write_atomic(path, text.as_bytes(), Some(mode))
            .with_context(|| format!("cannot write {}", path.display()));
    }
    let mut child = Command::new("crontab")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run `crontab -`")?;
    child
        .stdin
        .take()
        .context("no stdin for crontab")?
        .write_all(text.as_bytes())
        .context("cannot hand the new crontab to `crontab -`")?;
    let output = child
        .wait_with_output()
        .context("`crontab -` did not finish")?;
    if !output.status.success() {
        return Err(anyhow!(
            "`crontab -` refused the new crontab: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

fn cron(ctx: &Context, args: &ScheduleInstallArgs, install: bool) -> Result<ExitStatus> {
    let project = &owner(ctx);
    let file = args.crontab_file.as_deref();
    let where_ = file
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the crontab".into());
    let current = read_crontab(file)?;
    let new = if install {
        schedule::with_block(&current, project, &jobs(ctx)?)
    } else {
        schedule::without_block(&current, project)
    }
    .hint("fix or delete the gymops block by hand, then run the command again")?;
    if new == current {
        ctx.printer.note(&format!(
            "{where_} is already up to date ({})",
            if install {
                "installed"
            } else {
                "no gymops block"
            }
        ));
        return Ok(Status::Ok);
    }
    write_crontab(file, &new)?;
    ctx.printer.note(&if install {
        crate::say!("installed the gymops schedule for {project} in {where_}")
    } else {
        crate::say!("removed the gymops schedule for {project} from {where_}")
    });
    Ok(Status::Ok)
}

fn systemctl(args: &[&str]) -> Result<()> {
    let output = Command::new("systemctl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `systemctl {}`", args.join(" ")))
        .hint("run on a systemd host, or pass --no-systemctl and reload systemd yourself")?;
    if !output.status.success() {
        return Err(anyhow!(
            "`systemctl {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// Unit files in `dir` that carry our marker: (file name, path).
fn our_units(dir: &Path, marker: &str) -> Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut units = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().to_string();
        if !(name.ends_with(".service") || name.ends_with(".timer")) {
            continue;
        }
        let first = std::fs::read_to_string(entry.path())
            .ok()
            .and_then(|text| text.lines().next().map(str::to_string));
        if first.as_deref() == Some(marker) {
            units.push((name, entry.path()));
        }
    }
    units.sort();
    Ok(units)
}

fn systemd(ctx: &Context, args: &ScheduleInstallArgs, install: bool) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let project = &owner(ctx);
    let prefix = &settings.schedule.name_prefix;
    let dir = &args.unit_dir;
    let marker = schedule::unit_marker(project);
    let existing = our_units(dir, &marker)?;
    let user = if install {
        service_user(ctx)?
    } else {
        String::new()
    };
    let mut wanted: Vec<(String, String)> = Vec::new();
    let mut timers: Vec<String> = Vec::new();
    if install {
        for job in jobs(ctx)? {
            let name = schedule::unit_name(prefix, &job);
            let (service, timer) = schedule::systemd_units(project, prefix, &user, &job);
            wanted.push((format!("{name}.service"), service));
            wanted.push((format!("{name}.timer"), timer.clone()));
            timers.push(format!("{name}.timer"));
        }
    }
    let stale: Vec<&(String, PathBuf)> = existing
        .iter()
        .filter(|(name, _)| !wanted.iter().any(|(wanted, _)| wanted == name))
        .collect();
    let mut changed = false;
    for (name, _) in stale.iter().filter(|(name, _)| name.ends_with(".timer")) {
        if !args.no_systemctl {
            systemctl(&["disable", "--now", name])?;
        }
    }
    for (name, path) in &stale {
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
        ctx.printer.note(&format!("removed {name}"));
        changed = true;
    }
    for (name, text) in &wanted {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        crate::fsutil::write_atomic(&path, text.as_bytes(), Some(0o644))
            .with_context(|| format!("cannot write {}", path.display()))
            .hint(
                "run as root for /etc/systemd/system, or pass --unit-dir ~/.config/systemd/user",
            )?;
        ctx.printer.note(&format!("wrote {}", path.display()));
        changed = true;
    }
    if !args.no_systemctl && (changed || install) {
        systemctl(&["daemon-reload"])?;
        for timer in &timers {
            systemctl(&["enable", "--now", timer])?;
        }
    }
    if !changed {
        ctx.printer.note(&format!(
            "the units in {} are already up to date",
            dir.display()
        ));
    }
    Ok(Status::Ok)
}

/// Run `schtasks ARGS`; its output on failure as the error.
fn schtasks(args: &[String]) -> Result<std::process::Output> {
    Command::new("schtasks")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run schtasks")
        .hint("Task Scheduler is Windows' own: run `gymops schedule install --target windows` on the Windows host, from an elevated prompt")
}

/// The tasks named with our prefix that Task Scheduler has (`\\PREFIX-...`).
fn our_tasks(prefix: &str) -> Result<Vec<String>> {
    let output = schtasks(&["/Query".into(), "/FO".into(), "CSV".into(), "/NH".into()])?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(schedule::tasks_with_prefix(&text, prefix))
}

/// Register (or replace) each job's task from its XML with `schtasks /Create /XML /F`,
/// and delete the tasks of ours that are no longer jobs; `install: false` deletes them all.
/// Idempotent: registering the same XML again replaces it with itself.
fn windows(ctx: &Context, install: bool) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let project = &owner(ctx);
    let prefix = &settings.schedule.name_prefix;
    let configured = jobs(ctx)?;
    let names: Vec<String> = configured
        .iter()
        .map(|job| schedule::task_name(prefix, job))
        .collect();
    let (jobs, wanted) = if install {
        (configured, names.clone())
    } else {
        (Vec::new(), Vec::new())
    };
    // Ours that Task Scheduler lists and are no longer wanted; on remove, also each
    // configured job's task by name (a listing can miss them).
    let mut stale: Vec<String> = our_tasks(prefix)?
        .into_iter()
        .filter(|name| !wanted.contains(name))
        .collect();
    let listed = stale.clone();
    if !install {
        stale.extend(names.iter().filter(|n| !listed.contains(n)).cloned());
    }
    for name in &stale {
        let output = schtasks(&schedule::schtasks_delete(name))?;
        if output.status.success() {
            ctx.printer.note(&format!("removed task {name}"));
        } else if listed.contains(name) {
            return Err(anyhow!(
                "schtasks could not delete {name}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
            .hint("run from an elevated prompt (the tasks run as SYSTEM)");
        }
    }
    let staging = std::env::temp_dir().join(format!("gymops-tasks-{}", std::process::id()));
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let result = (|| -> Result<()> {
        for (job, name) in jobs.iter().zip(&wanted) {
            let xml = schedule::task_xml(project, prefix, job);
            let path = staging.join(format!("{name}.xml"));
            // The XML says UTF-16, as Task Scheduler exports it: little-endian with a BOM.
            crate::fsutil::write_atomic(&path, &schedule::utf16le_with_bom(&xml), Some(0o600))?;
            let output = schtasks(&schedule::schtasks_create(name, &path))?;
            if !output.status.success() {
                return Err(anyhow!(
                    "schtasks could not register {name}: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ))
                .hint("run from an elevated prompt (the tasks run as SYSTEM)");
            }
            ctx.printer.note(&format!("registered task {name}"));
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result?;
    Ok(Status::Ok)
}
