//! DingTalk, WeCom and Feishu robots against local stand-ins that check the signature the
//! way each service documents it and answer as each service does (HTTP 200 with a code in
//! the body): the message arrives signed, a rate-limit answer is retried, a refusal in the
//! body is a failed delivery, and neither the URL's token nor the secret is ever printed.

mod support;

use std::path::Path;
use std::process::Command;

use support::{free_port, gymops, listening, run, text};

const TOKEN: &str = "robot-token-7Hq2-secret";
const SECRET: &str = "SECa1b2c3-signing-secret-z9";

struct Robot {
    _process: support::Forwarder,
    port: u16,
    out: tempfile::TempDir,
}

impl Robot {
    fn start(kind: &str, secret: &str, busy: u32) -> Robot {
        let out = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/chat_robot.py");
        let mut command = Command::new("/usr/bin/python3");
        command.arg(script).args([
            kind,
            &port.to_string(),
            secret,
            out.path().join("messages.jsonl").to_str().unwrap(),
            &busy.to_string(),
        ]);
        Robot {
            _process: listening(command, port),
            port,
            out,
        }
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.out.path().join("messages.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

/// `alert send` to one channel, its stdout, stderr and exit code.
fn send(dir: &Path, channel: &str, env: &[(&str, String)]) -> (Option<i32>, String, String) {
    std::fs::write(
        dir.join("gymops.yaml"),
        "notify:\n  retries: 2\n  backoff: 50ms\n  timeout: 3s\n",
    )
    .unwrap();
    let mut command = gymops(dir);
    command.args([
        "alert",
        "send",
        "--alert-type",
        "ServiceDown",
        "--message",
        "后端服务不可用 (backend down)",
        "--severity",
        "critical",
        "--channel",
        channel,
        "-vvv",
    ]);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = run(&mut command);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    for secret in [TOKEN, SECRET] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed:\n{stdout}\n{stderr}"
        );
    }
    (output.status.code(), stdout, stderr)
}

#[test]
fn dingtalk_gets_a_signed_markdown_message_and_a_wrong_secret_is_a_failed_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let robot = Robot::start("dingtalk", SECRET, 1);
    let url = format!(
        "http://127.0.0.1:{}/robot/send?access_token={TOKEN}",
        robot.port
    );
    // The secret from a file, as an operator keeps it.
    std::fs::write(dir.path().join("ding-secret"), format!("{SECRET}\n")).unwrap();
    let (code, stdout, stderr) = send(
        dir.path(),
        "dingtalk",
        &[
            ("GYMOPS_DINGTALK_WEBHOOK_URL", url.clone()),
            ("GYMOPS_NOTIFY_DINGTALK_SECRET_FILE", "ding-secret".into()),
        ],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let messages = robot.messages();
    assert_eq!(messages.len(), 1, "busy once, then delivered once");
    assert_eq!(messages[0]["msgtype"], "markdown");
    assert_eq!(
        messages[0]["markdown"]["title"],
        "[CRITICAL] ServiceDown: 后端服务不可用 (backend down)"
    );

    // In the team's language: the words around the alert are Chinese.
    let chinese = Robot::start("dingtalk", SECRET, 0);
    let url = format!(
        "http://127.0.0.1:{}/robot/send?access_token={TOKEN}",
        chinese.port
    );
    let (code, _, stderr) = send(
        dir.path(),
        "dingtalk",
        &[
            ("GYMOPS_DINGTALK_WEBHOOK_URL", url),
            ("GYMOPS_DINGTALK_SECRET", SECRET.into()),
            ("GYMOPS_LANG", "zh".into()),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let text = chinese.messages()[0]["markdown"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("- **严重级别**: critical") && text.contains("- **事件**: "),
        "{text}"
    );

    // A wrong secret: DingTalk answers 200 with errcode 310000, which is no delivery.
    let refusing = Robot::start("dingtalk", "SEC-another-secret", 0);
    let url = format!(
        "http://127.0.0.1:{}/robot/send?access_token={TOKEN}",
        refusing.port
    );
    let (code, stdout, stderr) = send(
        dir.path(),
        "dingtalk",
        &[
            ("GYMOPS_DINGTALK_WEBHOOK_URL", url),
            ("GYMOPS_DINGTALK_SECRET", SECRET.into()),
        ],
    );
    assert_ne!(code, Some(0), "{stdout}");
    assert!(stderr.contains("code 310000"), "{stderr}");
    assert!(refusing.messages().is_empty());
}

#[test]
fn wecom_gets_markdown_and_a_busy_answer_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let robot = Robot::start("wecom", "-", 2);
    let url = format!(
        "http://127.0.0.1:{}/cgi-bin/webhook/send?key={TOKEN}",
        robot.port
    );
    let (code, stdout, stderr) = send(dir.path(), "wecom", &[("GYMOPS_WECOM_WEBHOOK_URL", url)]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let messages = robot.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["msgtype"], "markdown");
    assert!(messages[0]["markdown"]["content"]
        .as_str()
        .unwrap()
        .contains("后端服务不可用"));

    // Busy on every try: one try plus the two retries, then an error.
    let swamped = Robot::start("wecom", "-", 100);
    let url = format!(
        "http://127.0.0.1:{}/cgi-bin/webhook/send?key={TOKEN}",
        swamped.port
    );
    let (code, _, stderr) = send(dir.path(), "wecom", &[("GYMOPS_WECOM_WEBHOOK_URL", url)]);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("3 attempt(s)") && stderr.contains("code 45009"),
        "{stderr}"
    );
}

#[test]
fn feishu_gets_a_signed_card_and_a_missing_url_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let robot = Robot::start("feishu", SECRET, 0);
    let url = format!(
        "http://127.0.0.1:{}/open-apis/bot/v2/hook/{TOKEN}",
        robot.port
    );
    let (code, stdout, stderr) = send(
        dir.path(),
        "feishu",
        &[
            ("GYMOPS_FEISHU_WEBHOOK_URL", url.clone()),
            ("GYMOPS_FEISHU_SECRET", SECRET.into()),
        ],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let messages = robot.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["msg_type"], "interactive");
    assert_eq!(messages[0]["card"]["header"]["template"], "red");

    // Unsigned to a bot that wants a signature: code 19021 in a 200, a failed delivery.
    let (code, _, stderr) = send(dir.path(), "feishu", &[("GYMOPS_FEISHU_WEBHOOK_URL", url)]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("code 19021"), "{stderr}");

    // No URL at all: what to set.
    let (code, _, stderr) = send(dir.path(), "feishu", &[]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("GYMOPS_FEISHU_WEBHOOK_URL"), "{stderr}");
}
