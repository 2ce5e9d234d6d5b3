//! The guide's scheduled jobs (section 6.4) rendered for cron, Windows Task Scheduler and
//! systemd timers, and the marked crontab block that `schedule install/remove` manage.
//! Pure: settings in, text out.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

use crate::error::HintExt;
use crate::settings::{Every, ScheduledJob};

/// A job ready to render: when, and the full command.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub name: String,
    pub every: Every,
    pub hour: u8,
    pub minute: u8,
    /// 0 = Sunday .. 6 = Saturday, for weekly jobs.
    pub weekday: Option<u8>,
    /// 1-28, for monthly jobs.
    pub day: Option<u8>,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub working_dir: PathBuf,
}

const WEEKDAYS: [(&str, &str, &str); 7] = [
    ("sun", "Sun", "Sunday"),
    ("mon", "Mon", "Monday"),
    ("tue", "Tue", "Tuesday"),
    ("wed", "Wed", "Wednesday"),
    ("thu", "Thu", "Thursday"),
    ("fri", "Fri", "Friday"),
    ("sat", "Sat", "Saturday"),
];

/// `HH:MM` (daily, weekly) or `:MM` / `MM` (hourly).
pub fn parse_at(every: Every, at: &str) -> Result<(u8, u8), String> {
    let number = |text: &str, max: u8, what: &str| -> Result<u8, String> {
        text.trim()
            .parse::<u8>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("{what} `{text}` is not 0-{max}"))
    };
    match every {
        Every::Minutely if at.trim().is_empty() => Ok((0, 0)),
        Every::Minutely => Err(format!(
            "`{at}`: a minutely job runs every minute; leave at out"
        )),
        Every::Hourly => {
            let minute = at.trim().trim_start_matches(':');
            Ok((0, number(minute, 59, "minute")?))
        }
        Every::Daily | Every::Weekly | Every::Monthly => {
            let (hour, minute) = at
                .split_once(':')
                .ok_or_else(|| format!("`{at}` is not HH:MM"))?;
            Ok((number(hour, 23, "hour")?, number(minute, 59, "minute")?))
        }
    }
}

pub fn parse_weekday(text: &str) -> Option<u8> {
    let text = text.trim().to_ascii_lowercase();
    WEEKDAYS
        .iter()
        .position(|(short, _, long)| text == *short || text == long.to_ascii_lowercase())
        .map(|index| index as u8)
}

/// Check a job from settings and make it ready to render. `validate_args` checks the
/// arguments form a gymops command line.
pub fn prepare(
    name: &str,
    job: &ScheduledJob,
    program: &Path,
    working_dir: &Path,
    leading_args: &[String],
    validate_args: impl Fn(&[String]) -> Result<(), String>,
) -> Result<Job> {
    let key = format!("schedule.jobs.{name}");
    let (hour, minute) = parse_at(job.every, &job.at)
        .map_err(|why| anyhow!("{key}.at: {why}"))
        .hint("use HH:MM for daily, weekly and monthly jobs, :MM for hourly ones, none for minutely ones")?;
    let day = match (job.every, job.day) {
        (Every::Monthly, Some(day)) if (1..=28).contains(&day) => Some(day),
        (Every::Monthly, Some(day)) => {
            return Err(anyhow!("{key}.day: {day} is not 1-28"))
                .hint("use a day every month has, 1-28")
        }
        (Every::Monthly, None) => Some(1),
        (_, Some(_)) => {
            return Err(anyhow!("{key}.day is only for monthly jobs"))
                .hint(format!("remove {key}.day or set {key}.every: monthly"))
        }
        (_, None) => None,
    };
    let weekday = match (job.every, &job.weekday) {
        (Every::Weekly, Some(day)) => Some(
            parse_weekday(day)
                .ok_or_else(|| anyhow!("{key}.weekday: `{day}` is not a day of the week"))
                .hint("use mon, tue, wed, thu, fri, sat or sun")?,
        ),
        (Every::Weekly, None) => {
            return Err(anyhow!("{key}: a weekly job needs a weekday"))
                .hint(format!("set {key}.weekday, e.g. mon"))
        }
        (_, Some(_)) => {
            return Err(anyhow!("{key}.weekday is only for weekly jobs"))
                .hint(format!("remove {key}.weekday or set {key}.every: weekly"))
        }
        (_, None) => None,
    };
    if job.args.is_empty() {
        return Err(anyhow!("{key}.args is empty"))
            .hint("list the gymops arguments, e.g. [health, --quiet]");
    }
    validate_args(&job.args)
        .map_err(|why| anyhow!("{key}.args is not a gymops command: {why}"))
        .hint("run the arguments by hand first, e.g. `gymops health --quiet`")?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("schedule job name `{name}` must be letters, digits, `-` and `_`");
    }
    let mut args = leading_args.to_vec();
    args.extend(job.args.iter().cloned());
    for arg in &args {
        check_text(&format!("{key}.args"), arg)?;
    }
    check_text("schedule.binary", &program.to_string_lossy())?;
    check_text("schedule.working_dir", &working_dir.to_string_lossy())?;
    Ok(Job {
        name: name.to_string(),
        every: job.every,
        hour,
        minute,
        weekday,
        day,
        program: program.to_path_buf(),
        args,
        working_dir: working_dir.to_path_buf(),
    })
}

/// A value that goes into a crontab line, a unit file or a task: no control characters (a
/// newline would end the line and start a job or directive of the value's choosing).
pub fn check_text(what: &str, text: &str) -> Result<()> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(anyhow!(
            "{what} `{}` holds a control character ({:?}), which would break out of the generated entry",
            text.escape_debug(),
            c
        ))
        .hint("remove newlines and other control characters from the value");
    }
    Ok(())
}

/// `project` and `schedule.name_prefix` name units, tasks and crontab markers: letters,
/// digits, `-` and `_` only (and the project lowercase, as compose wants it).
pub fn check_names(project: &str, prefix: &str) -> Result<()> {
    let plain = |text: &str| {
        !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !plain(project) || project.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(anyhow!(
            "project `{}` must be 1-64 lowercase letters, digits, `-` or `_` to name scheduled jobs",
            project.escape_debug()
        ))
        .hint("set project in gymops.yaml, e.g. fitness_gym");
    }
    if !plain(prefix) {
        return Err(anyhow!(
            "schedule.name_prefix `{}` must be 1-64 letters, digits, `-` or `_`",
            prefix.escape_debug()
        ))
        .hint("for example FitnessGym");
    }
    Ok(())
}

/// The systemd `User=`: a POSIX account name.
pub fn check_user(user: &str) -> Result<()> {
    let valid = !user.is_empty()
        && user.len() <= 32
        && user
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && user
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        return Err(anyhow!(
            "schedule.user `{}` is not an account name",
            user.escape_debug()
        ))
        .hint("name the account the jobs run as, e.g. gymops (in the docker group)");
    }
    Ok(())
}

/// POSIX shell single-quoting: any text becomes one word.
pub fn sh_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c))
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

pub fn cron_schedule(job: &Job) -> String {
    match job.every {
        Every::Minutely => "* * * * *".to_string(),
        Every::Monthly => format!("{} {} {} * *", job.minute, job.hour, job.day.unwrap_or(1)),
        Every::Hourly => format!("{} * * * *", job.minute),
        Every::Daily => format!("{} {} * * *", job.minute, job.hour),
        Every::Weekly => format!(
            "{} {} * * {}",
            job.minute,
            job.hour,
            job.weekday.unwrap_or(1)
        ),
    }
}

/// One crontab line. Cron hands the command to /bin/sh, so every word is quoted, and `%`
/// (a newline to cron) is escaped.
pub fn cron_line(job: &Job) -> String {
    let mut words = vec![
        "cd".to_string(),
        sh_quote(&job.working_dir.to_string_lossy()),
        "&&".into(),
        sh_quote(&job.program.to_string_lossy()),
    ];
    words.extend(job.args.iter().map(|arg| sh_quote(arg)));
    format!(
        "{} {}  # gymops job {}",
        cron_schedule(job),
        words.join(" ").replace('%', "\\%"),
        job.name
    )
}

pub fn begin_marker(project: &str) -> String {
    format!("# BEGIN gymops schedule ({project}) - managed by `gymops schedule install`; edit gymops.yaml instead")
}

pub fn end_marker(project: &str) -> String {
    format!("# END gymops schedule ({project})")
}

pub fn cron_block(project: &str, jobs: &[Job]) -> String {
    let mut text = begin_marker(project) + "\n";
    for job in jobs {
        text.push_str(&cron_line(job));
        text.push('\n');
    }
    text.push_str(&end_marker(project));
    text.push('\n');
    text
}

/// The crontab without gymops's block for `project` (other lines untouched, byte for byte).
pub fn without_block(crontab: &str, project: &str) -> Result<String> {
    let begin = begin_marker(project);
    let end = end_marker(project);
    let mut out = String::new();
    let mut inside = false;
    for line in crontab.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if !inside && bare.starts_with(&format!("# BEGIN gymops schedule ({project})")) {
            inside = true;
            continue;
        }
        if inside {
            if bare == end {
                inside = false;
            }
            continue;
        }
        out.push_str(line);
    }
    if inside {
        bail!("the crontab has `{begin}` without its end marker `{end}`");
    }
    Ok(out)
}

/// The crontab with gymops's block replaced (or appended when it was not there).
pub fn with_block(crontab: &str, project: &str, jobs: &[Job]) -> Result<String> {
    let begin = begin_marker(project);
    let mut out = String::new();
    let mut placed = false;
    let mut inside = false;
    for line in crontab.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if !inside && bare.starts_with(&format!("# BEGIN gymops schedule ({project})")) {
            inside = true;
            if !placed {
                out.push_str(&cron_block(project, jobs));
                placed = true;
            }
            continue;
        }
        if inside {
            if bare == end_marker(project) {
                inside = false;
            }
            continue;
        }
        out.push_str(line);
    }
    if inside {
        bail!(
            "the crontab has `{begin}` without its end marker `{}`",
            end_marker(project)
        );
    }
    if !placed {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&cron_block(project, jobs));
    }
    Ok(out)
}

/// systemd unit file quoting for ExecStart words: `%` and `$` are special to systemd.
pub fn systemd_quote(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    if !escaped.is_empty()
        && escaped
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%$".contains(c))
    {
        escaped
    } else {
        format!("\"{escaped}\"")
    }
}

pub fn unit_name(prefix: &str, job: &Job) -> String {
    format!("{}-{}", prefix.to_ascii_lowercase(), job.name)
}

pub fn on_calendar(job: &Job) -> String {
    match job.every {
        Every::Minutely => "*-*-* *:*:00".to_string(),
        Every::Monthly => format!(
            "*-*-{:02} {:02}:{:02}:00",
            job.day.unwrap_or(1),
            job.hour,
            job.minute
        ),
        Every::Hourly => format!("*-*-* *:{:02}:00", job.minute),
        Every::Daily => format!("*-*-* {:02}:{:02}:00", job.hour, job.minute),
        Every::Weekly => format!(
            "{} *-*-* {:02}:{:02}:00",
            WEEKDAYS[usize::from(job.weekday.unwrap_or(1))].1,
            job.hour,
            job.minute
        ),
    }
}

/// The marker line every unit of ours starts with, so `remove` deletes only ours.
pub fn unit_marker(project: &str) -> String {
    format!("# Managed by gymops schedule ({project}); edit gymops.yaml and re-run `gymops schedule install --target systemd`")
}

/// (service unit, timer unit) texts.
pub fn systemd_units(project: &str, prefix: &str, user: &str, job: &Job) -> (String, String) {
    let name = unit_name(prefix, job);
    let mut exec = vec![systemd_quote(&job.program.to_string_lossy())];
    exec.extend(job.args.iter().map(|arg| systemd_quote(arg)));
    let service = format!(
        "{marker}\n[Unit]\nDescription=gymops {job} ({project})\nWants=network-online.target\nAfter=network-online.target docker.service\n\n[Service]\nType=oneshot\nUser={user}\nWorkingDirectory={dir}\nExecStart={exec}\n",
        marker = unit_marker(project),
        job = job.name,
        dir = systemd_quote(&job.working_dir.to_string_lossy()),
        exec = exec.join(" "),
    );
    let timer = format!(
        "{marker}\n[Unit]\nDescription=gymops {job} ({project}) schedule\n\n[Timer]\nOnCalendar={calendar}\nPersistent=true\nUnit={name}.service\n\n[Install]\nWantedBy=timers.target\n",
        marker = unit_marker(project),
        job = job.name,
        calendar = on_calendar(job),
    );
    (service, timer)
}

/// Windows command-line quoting (the rules CommandLineToArgvW reverses).
pub fn windows_quote(text: &str) -> String {
    if !text.is_empty() && !text.chars().any(|c| c == ' ' || c == '\t' || c == '"') {
        return text.to_string();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in text.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.push_str(&"\\".repeat(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            other => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(other);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub fn task_name(prefix: &str, job: &Job) -> String {
    format!("{prefix}-{}", job.name)
}

/// Task Scheduler XML for one job: runs as SYSTEM, never two at once, at most 2 hours.
pub fn task_xml(project: &str, prefix: &str, job: &Job) -> String {
    let start = format!("2026-01-01T{:02}:{:02}:00", job.hour, job.minute);
    let trigger = match job.every {
        Every::Minutely => format!(
            "    <TimeTrigger>\n      <StartBoundary>{start}</StartBoundary>\n      <Enabled>true</Enabled>\n      <Repetition>\n        <Interval>PT1M</Interval>\n        <StopAtDurationEnd>false</StopAtDurationEnd>\n      </Repetition>\n    </TimeTrigger>\n"
        ),
        Every::Monthly => format!(
            "    <CalendarTrigger>\n      <StartBoundary>{start}</StartBoundary>\n      <Enabled>true</Enabled>\n      <ScheduleByMonth>\n        <DaysOfMonth>\n          <Day>{day}</Day>\n        </DaysOfMonth>\n        <Months>\n{months}        </Months>\n      </ScheduleByMonth>\n    </CalendarTrigger>\n",
            day = job.day.unwrap_or(1),
            months = [
                "January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December"
            ]
            .iter()
            .map(|m| format!("          <{m} />\n"))
            .collect::<String>()
        ),
        Every::Hourly => format!(
            "    <TimeTrigger>\n      <StartBoundary>{start}</StartBoundary>\n      <Enabled>true</Enabled>\n      <Repetition>\n        <Interval>PT1H</Interval>\n        <StopAtDurationEnd>false</StopAtDurationEnd>\n      </Repetition>\n    </TimeTrigger>\n"
        ),
        Every::Daily => format!(
            "    <CalendarTrigger>\n      <StartBoundary>{start}</StartBoundary>\n      <Enabled>true</Enabled>\n      <ScheduleByDay>\n        <DaysInterval>1</DaysInterval>\n      </ScheduleByDay>\n    </CalendarTrigger>\n"
        ),
        Every::Weekly => format!(
            "    <CalendarTrigger>\n      <StartBoundary>{start}</StartBoundary>\n      <Enabled>true</Enabled>\n      <ScheduleByWeek>\n        <DaysOfWeek>\n          <{day} />\n        </DaysOfWeek>\n        <WeeksInterval>1</WeeksInterval>\n      </ScheduleByWeek>\n    </CalendarTrigger>\n",
            day = WEEKDAYS[usize::from(job.weekday.unwrap_or(1))].2
        ),
    };
    let arguments: Vec<String> = job.args.iter().map(|arg| windows_quote(arg)).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n  <RegistrationInfo>\n    <Description>{description}</Description>\n    <URI>\\{name}</URI>\n  </RegistrationInfo>\n  <Triggers>\n{trigger}  </Triggers>\n  <Principals>\n    <Principal id=\"Author\">\n      <UserId>S-1-5-18</UserId>\n      <RunLevel>HighestAvailable</RunLevel>\n    </Principal>\n  </Principals>\n  <Settings>\n    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n    <StartWhenAvailable>true</StartWhenAvailable>\n    <ExecutionTimeLimit>PT2H</ExecutionTimeLimit>\n    <Enabled>true</Enabled>\n  </Settings>\n  <Actions Context=\"Author\">\n    <Exec>\n      <Command>{command}</Command>\n      <Arguments>{arguments}</Arguments>\n      <WorkingDirectory>{dir}</WorkingDirectory>\n    </Exec>\n  </Actions>\n</Task>\n",
        description = xml_escape(&format!("gymops {} ({project})", job.name)),
        name = xml_escape(&task_name(prefix, job)),
        command = xml_escape(&job.program.to_string_lossy()),
        arguments = xml_escape(&arguments.join(" ")),
        dir = xml_escape(&job.working_dir.to_string_lossy()),
    )
}

/// `schtasks /Create /TN NAME /XML FILE /F`: register (or replace) a task from its XML.
pub fn schtasks_create(name: &str, xml: &Path) -> Vec<String> {
    vec![
        "/Create".into(),
        "/TN".into(),
        name.into(),
        "/XML".into(),
        xml.display().to_string(),
        "/F".into(),
    ]
}

/// `schtasks /Delete /TN NAME /F`.
pub fn schtasks_delete(name: &str) -> Vec<String> {
    vec!["/Delete".into(), "/TN".into(), name.into(), "/F".into()]
}

/// The task names of `schtasks /Query /FO CSV /NH` that carry our prefix (`"\\NAME",...`).
pub fn tasks_with_prefix(csv: &str, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = csv
        .lines()
        .filter_map(|line| {
            let first = line.trim_start_matches('\u{feff}').split("\",\"").next()?;
            let name = first.trim_matches('"').trim_start_matches('\\');
            name.strip_prefix(prefix)
                .filter(|rest| rest.starts_with('-'))
                .map(|_| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Text as UTF-16 little-endian with a byte-order mark (Task Scheduler's XML encoding).
pub fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// A PowerShell script registering every task from its XML (run as Administrator).
pub fn powershell(project: &str, prefix: &str, jobs: &[Job]) -> String {
    let mut text = format!(
        "# gymops schedule for {project}: run in an elevated PowerShell.\n# Each task is registered from Task Scheduler XML (also importable with `schtasks /Create /XML`).\n$ErrorActionPreference = 'Stop'\n"
    );
    for job in jobs {
        text.push_str(&format!(
            "\n# {name}: {when}\nRegister-ScheduledTask -TaskName '{task}' -Force -Xml @'\n{xml}'@\n",
            name = job.name,
            when = on_calendar(job),
            task = task_name(prefix, job).replace('\'', "''"),
            xml = task_xml(project, prefix, job),
        ));
    }
    text
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
