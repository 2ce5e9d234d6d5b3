//! Chinese and English as people meet them: the language from --lang, GYMOPS_LANG, `lang:`
//! in gymops.yaml or the locale; tables, summaries, errors, hints and help in Chinese;
//! CJK text measured right in tables; machine output (JSON, exit codes) the same in both.

mod support;

use std::path::Path;

use support::{free_port, gymops, run, text};

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "services:\n  web: {container: gym_web}\nhealth:\n  timeout: 2s\n",
    )
    .unwrap();
    dir
}

/// `health --check api --endpoint CLOSED ARGS` with `env`.
fn health(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let endpoint = format!("http://127.0.0.1:{}/health", free_port());
    let mut command = gymops(dir);
    command
        .args(["health", "--check", "api", "--endpoint", &endpoint])
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    run(&mut command)
}

/// Display width as a terminal counts it: CJK and full-width forms take two columns.
fn width(line: &str) -> usize {
    line.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

#[test]
fn the_language_comes_from_the_flag_the_environment_the_file_or_the_locale() {
    let dir = setup();
    let english = health(dir.path(), &[], &[]);
    assert_eq!(english.status.code(), Some(2));
    assert!(text(&english.stdout).starts_with("CHECK"));
    for (args, env) in [
        (&["--lang", "zh"][..], &[][..]),
        (&[][..], &[("GYMOPS_LANG", "zh")][..]),
        (&[][..], &[("LC_ALL", ""), ("LANG", "zh_CN.UTF-8")][..]),
    ] {
        let output = health(dir.path(), args, env);
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}");
        let table = text(&output.stdout);
        assert!(table.starts_with("检查"), "{args:?} {env:?}: {table}");
        assert!(table.contains("严重"), "{table}");
        assert!(table.contains("状态：严重（严重 1 项）"), "{table}");
    }
    // gymops.yaml's lang, and the flag over it.
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "lang: zh\nservices:\n  web: {container: gym_web}\n",
    )
    .unwrap();
    assert!(text(&health(dir.path(), &[], &[]).stdout).starts_with("检查"));
    assert!(text(&health(dir.path(), &["--lang", "en"], &[]).stdout).starts_with("CHECK"));
}

#[test]
fn chinese_tables_line_up_and_json_does_not_change() {
    let dir = setup();
    let output = health(dir.path(), &["--lang", "zh"], &[]);
    let table = text(&output.stdout);
    let lines: Vec<&str> = table.lines().filter(|l| !l.starts_with("状态")).collect();
    assert!(lines.len() >= 2, "{table}");
    // Every column starts at the same display column on every line: the header's and the
    // row's cells are padded by display width, not by bytes or chars.
    let header = lines[0];
    let row = lines[1];
    let starts = |line: &str| -> Vec<usize> {
        let mut out = Vec::new();
        let mut column = 0;
        let mut previous_space = true;
        for c in line.chars() {
            let space = c == ' ';
            if previous_space && !space {
                out.push(column);
            }
            previous_space = space;
            column += width(&c.to_string());
        }
        out
    };
    assert_eq!(
        starts(header)[..3],
        starts(row)[..3],
        "columns drift:\n{header}\n{row}"
    );
    // JSON: the same keys and values whatever the language.
    let json = |lang: &str| -> serde_json::Value {
        let output = health(dir.path(), &["--lang", lang, "-o", "json"], &[]);
        let mut value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        for check in value["checks"].as_array_mut().unwrap() {
            check["latency_ms"] = serde_json::Value::Null;
        }
        value["elapsed_ms"] = serde_json::Value::Null;
        value["checked_at"] = serde_json::Value::Null;
        value["checks"][0]["target"] = serde_json::Value::Null;
        value
    };
    let (en, zh) = (json("en"), json("zh"));
    assert_eq!(en["status"], "critical");
    assert_eq!(en, zh);
}

#[test]
fn errors_hints_and_help_in_chinese_and_bad_languages_refused() {
    let dir = setup();
    let output = run(gymops(dir.path()).args(["--lang", "zh", "logs", "nosuch"]));
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("错误："), "{stderr}");
    assert!(stderr.contains("\n提示："), "{stderr}");
    // The one-line help of every command, in Chinese.
    let output = run(gymops(dir.path()).args(["--lang", "zh", "--help"]));
    assert_eq!(output.status.code(), Some(0));
    let help = text(&output.stdout);
    assert!(help.starts_with("健身房系统"), "{help}");
    assert!(
        help.contains("health       一次检查部署的所有部分"),
        "{help}"
    );
    let output = run(gymops(dir.path())
        .args(["backup", "--help"])
        .env("LC_ALL", "")
        .env("LANG", "zh_CN.UTF-8"));
    assert!(
        text(&output.stdout).contains("打印本帮助"),
        "{}",
        text(&output.stdout)
    );
    // Unknown languages: one error that lists the known ones, exit 3.
    let output = run(gymops(dir.path()).args(["--lang", "fr", "ps"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("[possible values: en, zh]"));
    std::fs::write(dir.path().join("gymops.yaml"), "lang: fr\n").unwrap();
    let output = run(gymops(dir.path()).args(["ps"]));
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("expected `en` or `zh`"), "{stderr}");
}

#[test]
fn the_messages_themselves_and_clap_s_own_words_are_chinese_too() {
    let dir = setup();
    // An error and its hint: the message of the source, its value carried over.
    let missing = dir.path().join("nosuch.sql.zst.age");
    let missing = missing.display();
    let zh =
        run(gymops(dir.path()).args(["--lang", "zh", "backup", "restore", &missing.to_string()]));
    assert_eq!(zh.status.code(), Some(3));
    assert_eq!(
        text(&zh.stderr),
        format!(
            "错误：没有备份文件 {missing}\n提示：`gymops backup list` 列出备份；请给出路径或 s3://BUCKET/KEY\n"
        )
    );
    let en = run(gymops(dir.path()).args(["backup", "restore", &missing.to_string()]));
    assert_eq!(en.status.code(), Some(3));
    assert_eq!(
        text(&en.stderr),
        format!(
            "error: no backup file {missing}\nhint: `gymops backup list` shows the backups; give a path or s3://BUCKET/KEY\n"
        )
    );
    // A line of a command's own output (not a table).
    let zh = run(gymops(dir.path()).args(["--lang", "zh", "backup", "list"]));
    assert_eq!(zh.status.code(), Some(0));
    let backups = std::fs::canonicalize(dir.path()).unwrap().join("backups");
    assert_eq!(
        text(&zh.stdout),
        format!("{} 中没有备份\n", backups.display())
    );
    // A note on stderr.
    let zh = run(gymops(dir.path()).args(["--lang", "zh", "config", "show"]));
    assert_eq!(zh.status.code(), Some(0));
    assert!(
        text(&zh.stderr).starts_with("配置文件："),
        "{}",
        text(&zh.stderr)
    );
    // clap's parse errors: what is wrong, the nearest command, the usage line, exit 3.
    let zh = run(gymops(dir.path()).args(["--lang", "zh", "heath"]));
    assert_eq!(zh.status.code(), Some(3));
    let stderr = text(&zh.stderr);
    assert!(
        stderr
            .starts_with("错误：无法识别的子命令 'heath'\n提示：有相似的 'health'\n用法：gymops "),
        "{stderr}"
    );
    let zh = run(gymops(dir.path()).args(["--lang", "zh", "ps", "--output", "yaml"]));
    assert_eq!(zh.status.code(), Some(3));
    assert!(
        text(&zh.stderr).starts_with(
            "错误：参数 '--output <OUTPUT>' 的值 'yaml' 无效（可选值：table, json, markdown）"
        ),
        "{}",
        text(&zh.stderr)
    );
    let en = run(gymops(dir.path()).args(["heath"]));
    assert_eq!(en.status.code(), Some(3));
    assert!(text(&en.stderr).starts_with("error: unrecognized subcommand 'heath'"));
    // Help screens: the usage line and the section headings.
    let zh = run(gymops(dir.path()).args(["--lang", "zh", "ps", "--help"]));
    let help = text(&zh.stdout);
    for words in [
        "用法：gymops ps [OPTIONS] [SERVICE]...",
        "\n参数:\n",
        "\n选项:\n",
        "显示帮助",
    ] {
        assert!(help.contains(words), "{words}: {help}");
    }
}

#[test]
fn check_summaries_details_and_their_hints_are_chinese() {
    support::require_docker();
    let dir = setup();
    let output = run(gymops(dir.path()).args(["--lang", "zh", "health", "--check", "containers"]));
    assert_eq!(output.status.code(), Some(2));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    // The summary of a check, with its values; the engine's version line too.
    assert!(stdout.contains("找不到容器（查找了 gym_web"), "{stdout}");
    assert!(stdout.contains("Docker Engine "), "{stdout}");
    assert!(
        stderr.contains("提示（container web）：启动它（`docker-compose up -d web`），或把 services.web.container 设为它的容器名"),
        "{stderr}"
    );
    // The same run's JSON keeps the English summary: machine output does not change.
    let output = run(gymops(dir.path()).args([
        "--lang",
        "zh",
        "health",
        "--check",
        "containers",
        "--output",
        "json",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let web = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == "web")
        .unwrap();
    assert!(
        web["summary"]
            .as_str()
            .unwrap()
            .starts_with("no container found (looked for gym_web"),
        "{web}"
    );
    // A checklist: details, what to do and the closing line.
    let output = run(gymops(dir.path()).args(["--lang", "zh", "check", "daily"]));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("每日检查："), "{stdout}");
    assert!(
        stdout.contains("仔细查看：`gymops health --check api`"),
        "{stdout}"
    );
}

#[test]
fn a_cron_job_under_a_chinese_locale_speaks_chinese_from_a_subdirectory() {
    // cron gives a job almost no environment: PATH, HOME, SHELL, and what the crontab sets
    // (LANG here). The job runs from a subdirectory of the project, without a terminal.
    let dir = setup();
    let sub = dir.path().join("reports");
    std::fs::create_dir(&sub).unwrap();
    let cron = |args: &[&str]| {
        run(std::process::Command::new(support::gymops_bin())
            .current_dir(&sub)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("SHELL", "/bin/sh")
            .env("LANG", "zh_CN.UTF-8")
            .args(args))
    };
    let output = cron(&["backup", "list"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let backups = std::fs::canonicalize(dir.path()).unwrap().join("backups");
    assert_eq!(
        text(&output.stdout),
        format!("{} 中没有备份\n", backups.display())
    );
    // A bad setting found by the job: one Chinese error line and its hint, exit 3.
    let output = cron(&["backup", "restore", "nosuch.sql.zst.age"]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(
            "错误：没有备份文件 nosuch.sql.zst.age\n提示：`gymops backup list` 列出备份"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}
