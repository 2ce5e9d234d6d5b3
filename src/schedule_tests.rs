//! Tests of `schedule.rs`.
use super::*;

fn job(every: Every, at: &str, weekday: Option<&str>) -> Job {
    let settings = ScheduledJob {
        enabled: true,
        every,
        at: at.into(),
        weekday: weekday.map(str::to_string),
        day: None,
        args: vec![
            "check".into(),
            "daily".into(),
            "--output-file".into(),
            "reports/100% daily.md".into(),
        ],
    };
    prepare(
        "daily-report",
        &settings,
        Path::new("/usr/local/bin/gymops"),
        Path::new("/srv/gym ops"),
        &["--environment".into(), "production".into()],
        |_| Ok(()),
    )
    .unwrap()
}

#[test]
fn times_parse_and_bad_ones_say_why() {
    assert_eq!(parse_at(Every::Daily, "02:00"), Ok((2, 0)));
    assert_eq!(parse_at(Every::Hourly, ":15"), Ok((0, 15)));
    assert_eq!(parse_at(Every::Hourly, "5"), Ok((0, 5)));
    assert!(parse_at(Every::Daily, "25:00")
        .unwrap_err()
        .contains("hour"));
    assert!(parse_at(Every::Daily, "0200").is_err());
    assert_eq!(parse_weekday("Monday"), Some(1));
    assert_eq!(parse_weekday("sun"), Some(0));
    assert_eq!(parse_weekday("someday"), None);
}

#[test]
fn cron_lines_quote_every_word_and_escape_percent() {
    let line = cron_line(&job(Every::Daily, "09:00", None));
    assert_eq!(
            line,
            "0 9 * * * cd '/srv/gym ops' && /usr/local/bin/gymops --environment production check daily --output-file 'reports/100\\% daily.md'  # gymops job daily-report"
        );
    assert_eq!(
        cron_schedule(&job(Every::Weekly, "02:30", Some("sun"))),
        "30 2 * * 0"
    );
    assert_eq!(cron_schedule(&job(Every::Hourly, ":00", None)), "0 * * * *");
}

#[test]
fn the_block_is_replaced_in_place_and_removed_exactly() {
    let original = "MAILTO=ops@example.com\n# nightly cleanup\n0 3 * * * /usr/bin/cleanup\n";
    let jobs = vec![job(Every::Daily, "09:00", None)];
    let installed = with_block(original, "fitness_gym", &jobs).unwrap();
    assert!(installed.starts_with(original));
    assert_eq!(
        with_block(&installed, "fitness_gym", &jobs).unwrap(),
        installed
    );
    let changed = vec![job(Every::Daily, "10:00", None)];
    let reinstalled = with_block(&installed, "fitness_gym", &changed).unwrap();
    assert!(reinstalled.contains("0 10 * * *") && !reinstalled.contains("0 9 * * *"));
    assert_eq!(
        without_block(&reinstalled, "fitness_gym").unwrap(),
        original
    );
    // Another project's block is left alone.
    let other = with_block(&installed, "other", &jobs).unwrap();
    assert_eq!(
        without_block(&other, "fitness_gym").unwrap(),
        with_block(original, "other", &jobs).unwrap()
    );
    let broken = format!("{}\n0 1 * * * x\n", begin_marker("fitness_gym"));
    assert!(without_block(&broken, "fitness_gym").is_err());
}

#[test]
fn systemd_units_quote_and_schedule() {
    let job = job(Every::Weekly, "02:00", Some("mon"));
    let (service, timer) = systemd_units("fitness_gym", "FitnessGym", "gymops", &job);
    assert!(service.contains("\nUser=gymops\n"), "{service}");
    assert!(service.contains("WorkingDirectory=\"/srv/gym ops\""));
    assert!(service.contains(
            "ExecStart=/usr/local/bin/gymops --environment production check daily --output-file \"reports/100%% daily.md\""
        ));
    assert!(timer.contains("OnCalendar=Mon *-*-* 02:00:00"));
    assert!(timer.contains("Unit=fitnessgym-daily-report.service"));
    assert_eq!(
        on_calendar(&self::job(Every::Hourly, ":05", None)),
        "*-*-* *:05:00"
    );
}

#[test]
fn windows_quoting_follows_argv_rules() {
    assert_eq!(windows_quote("plain"), "plain");
    assert_eq!(windows_quote("two words"), "\"two words\"");
    assert_eq!(windows_quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    assert_eq!(
        windows_quote("C:\\dir with space\\"),
        "\"C:\\dir with space\\\\\""
    );
    let xml = task_xml(
        "fitness_gym",
        "FitnessGym",
        &job(Every::Daily, "02:00", None),
    );
    assert!(xml.contains("<Arguments>--environment production check daily --output-file &quot;reports/100% daily.md&quot;</Arguments>"));
    assert!(xml.contains("<DaysInterval>1</DaysInterval>"));
    assert!(xml.contains("<StartBoundary>2026-01-01T02:00:00</StartBoundary>"));
}

#[test]
fn values_that_would_break_out_of_an_entry_are_refused() {
    let job = ScheduledJob {
        enabled: true,
        every: Every::Daily,
        at: "02:00".into(),
        weekday: None,
        day: None,
        args: vec![
            "health".into(),
            "--output-file".into(),
            "x\n* * * * * root rm -rf /".into(),
        ],
    };
    let err = prepare(
        "nightly",
        &job,
        Path::new("/usr/bin/gymops"),
        Path::new("/srv"),
        &[],
        |_| Ok(()),
    )
    .unwrap_err();
    assert!(
        crate::error::describe(&err).0.contains("control character"),
        "{err:#}"
    );
    let dir_err = prepare(
        "nightly",
        &ScheduledJob {
            args: vec!["health".into()],
            ..job
        },
        Path::new("/usr/bin/gymops"),
        Path::new("/srv\nExecStartPre=/bin/sh"),
        &[],
        |_| Ok(()),
    );
    assert!(dir_err.is_err());
    assert!(check_names("fitness_gym", "FitnessGym").is_ok());
    for (project, prefix) in [
        ("fitness_gym\n* * * * * sh", "FitnessGym"),
        ("Fitness", "FitnessGym"),
        ("fitness_gym", "../../etc/systemd/system/evil"),
        ("fitness_gym", "Gym Ops"),
    ] {
        assert!(
            check_names(project, prefix).is_err(),
            "{project:?} {prefix:?}"
        );
    }
    assert!(check_user("gymops").is_ok() && check_user("root").is_ok());
    assert!(check_user("root\nExecStartPre=/bin/sh").is_err());
    assert!(check_user("").is_err());
}

#[test]
fn task_scheduler_commands_names_and_encoding() {
    assert_eq!(
        schtasks_create(
            "FitnessGym-backup",
            Path::new(r"C:\Temp\FitnessGym-backup.xml")
        ),
        [
            "/Create",
            "/TN",
            "FitnessGym-backup",
            "/XML",
            r"C:\Temp\FitnessGym-backup.xml",
            "/F"
        ]
    );
    assert_eq!(
        schtasks_delete("FitnessGym-health"),
        ["/Delete", "/TN", "FitnessGym-health", "/F"]
    );
    let csv = "\u{feff}\"\\FitnessGym-backup\",\"11/29/2026 2:00:00 AM\",\"Ready\"\r\n\"\\FitnessGym-health\",\"N/A\",\"Ready\"\r\n\"\\FitnessGymOther-x\",\"N/A\",\"Ready\"\r\n\"\\Microsoft\\Windows\\Defrag\",\"N/A\",\"Ready\"\r\n\"\\FitnessGym-backup\",\"N/A\",\"Ready\"\r\n";
    assert_eq!(
        tasks_with_prefix(csv, "FitnessGym"),
        ["FitnessGym-backup", "FitnessGym-health"]
    );
    let bytes = utf16le_with_bom("<Task>é</Task>");
    assert_eq!(&bytes[..4], &[0xFF, 0xFE, b'<', 0]);
    let units: Vec<u16> = bytes[2..]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(String::from_utf16(&units).unwrap(), "<Task>é</Task>");
}

#[test]
fn minutely_and_monthly_jobs_render_for_cron_systemd_and_task_scheduler() {
    let mut minutely = job(Every::Minutely, "", None);
    minutely.day = None;
    assert_eq!(cron_schedule(&minutely), "* * * * *");
    assert_eq!(on_calendar(&minutely), "*-*-* *:*:00");
    assert!(task_xml("p", "Gym", &minutely).contains("<Interval>PT1M</Interval>"));
    assert!(parse_at(Every::Minutely, "02:00").is_err());
    let mut monthly = job(Every::Monthly, "04:00", None);
    monthly.day = Some(1);
    assert_eq!(cron_schedule(&monthly), "0 4 1 * *");
    assert_eq!(on_calendar(&monthly), "*-*-01 04:00:00");
    let xml = task_xml("p", "Gym", &monthly);
    assert!(
        xml.contains("<Day>1</Day>") && xml.contains("<December />"),
        "{xml}"
    );
}
