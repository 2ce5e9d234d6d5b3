//! The Chinese documentation: its command map lists exactly the gymops commands the English
//! one does (a command added to one and not the other fails here), every guide it links
//! exists, and every example command in the Chinese guides is one gymops accepts.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use support::{gymops, run};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// The `gymops ...` spans of a command map's rows (the table after `heading`).
fn mapped_commands(readme: &str, heading: &str) -> BTreeSet<String> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading}"));
    let table = &readme[start..];
    let mut commands = BTreeSet::new();
    for line in table.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let mut rest = line;
        while let Some(open) = rest.find('`') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('`') else { break };
            let span = &after[..close];
            if span.starts_with("gymops") {
                commands.insert(span.to_string());
            }
            rest = &after[close + 1..];
        }
    }
    commands
}

#[test]
fn the_chinese_command_map_lists_exactly_the_english_commands() {
    let english = mapped_commands(&read("README.md"), "## From the operations guide to gymops");
    let chinese = mapped_commands(&read("README.zh-CN.md"), "## 从运维手册到 gymops");
    assert!(english.len() > 40, "{english:?}");
    let only_english: Vec<_> = english.difference(&chinese).collect();
    let only_chinese: Vec<_> = chinese.difference(&english).collect();
    assert!(
        only_english.is_empty() && only_chinese.is_empty(),
        "only in README.md: {only_english:?}\nonly in README.zh-CN.md: {only_chinese:?}"
    );
}

#[test]
fn the_chinese_guides_exist_are_linked_both_ways_and_their_examples_parse() {
    let readme = read("README.zh-CN.md");
    assert!(read("README.md").contains("(README.zh-CN.md)"));
    let guides = ["health", "logs", "backups", "deploy", "incidents"];
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for guide in guides {
        let path = format!("docs/zh-CN/{guide}.md");
        assert!(readme.contains(&format!("({path})")), "{path} not linked");
        let text = read(&path);
        let mut in_shell = false;
        for line in text.lines() {
            if line.starts_with("```") {
                in_shell = line == "```sh";
                continue;
            }
            let line = line.trim();
            if !in_shell || !line.starts_with("gymops ") {
                continue;
            }
            // The command without its trailing comment, as a shell would split it.
            let command = match line.find(" #") {
                Some(at) => line[..at].trim_end(),
                None => line,
            };
            let words = shell_words(command);
            let output = run(gymops(dir.path()).args(&words[1..]).arg("--help"));
            assert_eq!(
                output.status.code(),
                Some(0),
                "{path}: `{command}` is not a command gymops accepts: {}",
                support::text(&output.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked}");
}

/// Split a command line as sh does for these examples: words, and "double-quoted" words.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' | '\'' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            _ => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}
