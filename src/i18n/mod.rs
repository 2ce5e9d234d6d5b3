//! The language people read gymops in: English or Chinese, from `--lang`, `GYMOPS_LANG`,
//! `lang:` in gymops.yaml, else the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`: `zh_*` is
//! Chinese), else English. Messages are Fluent catalogues (`locales/en.ftl`,
//! `locales/zh.ftl`, compiled in). Machine output — JSON keys and values, exit codes, the
//! Prometheus text — never changes with the language. A catalogue that does not parse, or
//! a message one of them lacks, falls back to English (and says so at -v), never a panic.

mod text;

pub use text::text;

/// `format!` that marks its text as a message for people: the message catalogue has its
/// Chinese (the catalogue test finds it), and it is shown through [`text`]. For text that is
/// built in one place and shown in another (a check's summary, a finding's detail).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        format!($($arg)*)
    };
}

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};

/// A language gymops speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English
    En,
    /// Chinese (中文)
    Zh,
}

impl Lang {
    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
}

const EN: &str = include_str!("../../locales/en.ftl");
const ZH: &str = include_str!("../../locales/zh.ftl");

static CURRENT: AtomicU8 = AtomicU8::new(0);
/// `--lang` as given on the command line (0: not given).
static FLAG: AtomicU8 = AtomicU8::new(0);

/// Remember `--lang` as given (for what has a language of its own unless the command line
/// says otherwise: incident notices).
pub fn remember_flag(flag: Option<Lang>) {
    let code = match flag {
        None => 0,
        Some(Lang::En) => 1,
        Some(Lang::Zh) => 2,
    };
    FLAG.store(code, Ordering::Relaxed);
}

/// `--lang` as given on the command line.
pub fn flag() -> Option<Lang> {
    match FLAG.load(Ordering::Relaxed) {
        1 => Some(Lang::En),
        2 => Some(Lang::Zh),
        _ => None,
    }
}

/// Speak `lang` from now on.
pub fn set(lang: Lang) {
    CURRENT.store(
        match lang {
            Lang::En => 0,
            Lang::Zh => 1,
        },
        Ordering::Relaxed,
    );
}

pub fn current() -> Lang {
    match CURRENT.load(Ordering::Relaxed) {
        1 => Lang::Zh,
        _ => Lang::En,
    }
}

/// The locale's language: the first of LC_ALL, LC_MESSAGES, LANG that is set (as libc
/// reads them); `zh...` is Chinese, anything else English.
pub fn from_locale(env: &BTreeMap<String, String>) -> Option<Lang> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|var| env.get(*var))
        .find(|value| !value.is_empty())
        .map(|value| {
            if value.to_ascii_lowercase().starts_with("zh") {
                Lang::Zh
            } else {
                Lang::En
            }
        })
}

/// The language of a run: the flag, else the setting (gymops.yaml or GYMOPS_LANG), else
/// the locale, else English.
pub fn choose(flag: Option<Lang>, setting: Option<Lang>, env: &BTreeMap<String, String>) -> Lang {
    flag.or(setting)
        .or_else(|| from_locale(env))
        .unwrap_or(Lang::En)
}

/// The language for `--help` and parse errors, before settings are read: `--lang X` or
/// `--lang=X` among the arguments, else GYMOPS_LANG, else the locale.
pub fn before_parse(args: &[String], env: &BTreeMap<String, String>) -> Lang {
    let parse = |text: &str| match text {
        "zh" => Some(Lang::Zh),
        "en" => Some(Lang::En),
        _ => None,
    };
    let mut flag = None;
    for (index, arg) in args.iter().enumerate() {
        if arg == "--" {
            break;
        }
        if let Some(value) = arg.strip_prefix("--lang=") {
            flag = parse(value);
        } else if arg == "--lang" {
            flag = args.get(index + 1).and_then(|v| parse(v));
        }
    }
    flag.or_else(|| env.get("GYMOPS_LANG").and_then(|v| parse(v)))
        .or_else(|| from_locale(env))
        .unwrap_or(Lang::En)
}

type Bundle = FluentBundle<FluentResource>;

/// A catalogue as a bundle, or why it cannot be.
fn bundle(lang: Lang, source: &str) -> Result<Bundle, String> {
    let resource = FluentResource::try_new(source.to_string())
        .map_err(|(_, errors)| format!("{} errors, the first: {:?}", errors.len(), errors[0]))?;
    let langid: unic_langid::LanguageIdentifier = lang
        .code()
        .parse()
        .map_err(|err| format!("language {}: {err}", lang.code()))?;
    let mut bundle = FluentBundle::new_concurrent(vec![langid]);
    // No Unicode isolation marks around arguments: they would reach terminals and files.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .map_err(|errors| format!("{} duplicate messages", errors.len()))?;
    Ok(bundle)
}

/// A language's catalogue, parsed the first time it is needed (an English run never
/// parses the Chinese one), or None when it cannot be read.
fn compiled(lang: Lang) -> Option<&'static Bundle> {
    static EN_BUNDLE: OnceLock<Option<Bundle>> = OnceLock::new();
    static ZH_BUNDLE: OnceLock<Option<Bundle>> = OnceLock::new();
    let (cell, source) = match lang {
        Lang::En => (&EN_BUNDLE, EN),
        Lang::Zh => (&ZH_BUNDLE, ZH),
    };
    cell.get_or_init(|| {
        bundle(lang, source)
            .map_err(|err| {
                tracing::info!(
                    "the {} message catalogue cannot be read ({err}); English is used",
                    lang.code()
                )
            })
            .ok()
    })
    .as_ref()
}

/// A message in `lang` from the bundles `get` gives, falling back to English, then to `id`
/// itself.
fn lookup<'a>(
    get: impl Fn(Lang) -> Option<&'a Bundle>,
    lang: Lang,
    id: &str,
    args: Option<&FluentArgs>,
) -> String {
    for lang in [lang, Lang::En] {
        let Some(bundle) = get(lang) else {
            continue;
        };
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            continue;
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if errors.is_empty() {
            return text.into_owned();
        }
        tracing::debug!("message {id} in {}: {errors:?}", lang.code());
    }
    id.to_string()
}

/// The message `id` in the current language.
pub fn tr(id: &str) -> String {
    lookup(compiled, current(), id, None)
}

/// The message `id` with arguments, in the current language.
pub fn tr_args(id: &str, args: &[(&str, String)]) -> String {
    let mut fluent = FluentArgs::new();
    for (name, value) in args {
        fluent.set(*name, FluentValue::from(value.clone()));
    }
    lookup(compiled, current(), id, Some(&fluent))
}

/// A table header in the current language: `header-<words>` of the catalogue, else the
/// header as written.
pub fn header(text: &str) -> String {
    if current() == Lang::En {
        return text.to_string();
    }
    let id = format!("header-{}", message_id(text));
    let translated = tr(&id);
    if translated == id {
        text.to_string()
    } else {
        translated
    }
}

/// `MEM USAGE / LIMIT` -> `mem-usage-limit`: a Fluent message ID from a text.
fn message_id(text: &str) -> String {
    let mut id = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    id.trim_end_matches('-').to_string()
}

/// The command tree with each command's one-line help in the current language (the
/// catalogue's `cmd-PATH`, e.g. `cmd-backup-create`); English keeps the doc comments.
pub fn localize_help(command: clap::Command) -> clap::Command {
    if current() == Lang::En {
        return command;
    }
    fn walk(command: clap::Command, path: &str) -> clap::Command {
        // clap's own `help` subcommand of every group shares one message.
        let id = if command.get_name() == "help" {
            "cmd-help".to_string()
        } else {
            format!("cmd-{path}")
        };
        let text = tr(&id);
        let mut command = headings(command);
        command = if text == id || text.is_empty() {
            command
        } else {
            // The short help everywhere: the long English text would follow it otherwise.
            command
                .about(text)
                .long_about(clap::builder::Resettable::<clap::builder::StyledStr>::Reset)
        };
        let names: Vec<String> = command
            .get_subcommands()
            .map(|sub| sub.get_name().to_string())
            .collect();
        for name in names {
            let child = if path == "gymops" {
                name.clone()
            } else {
                format!("{path}-{name}")
            };
            command = command.mut_subcommand(&name, |sub| walk(sub, &child));
        }
        command
    }
    // Built first, so that clap's own `help` subcommands are there to translate.
    let mut command = command;
    command.build();
    walk(command, "gymops")
}

/// clap's own words of a help screen in the current language: the usage line, the
/// section headings, the help and version flags' help.
fn headings(command: clap::Command) -> clap::Command {
    let template = format!(
        "{{before-help}}{{about-with-newline}}\n{}\n\n{{all-args}}{{after-help}}",
        tr_args("help-usage", &[("usage", "{usage}".to_string())])
    );
    let ids: Vec<(clap::Id, bool, bool)> = command
        .get_arguments()
        .map(|arg| {
            (
                arg.get_id().clone(),
                arg.is_positional(),
                arg.get_help_heading().is_some(),
            )
        })
        .collect();
    let mut command = command
        .help_template(template)
        .subcommand_help_heading(tr("help-commands"));
    for (id, positional, has_heading) in ids {
        let name = id.as_str().to_string();
        command = command.mut_arg(id, |arg| {
            let arg = if has_heading {
                arg
            } else if positional {
                arg.help_heading(tr("help-arguments"))
            } else {
                arg.help_heading(tr("help-options"))
            };
            match name.as_str() {
                "help" => arg
                    .help(tr("help-flag-help"))
                    .long_help(tr("help-flag-help")),
                "version" => arg
                    .help(tr("help-flag-version"))
                    .long_help(tr("help-flag-version")),
                _ => arg,
            }
        });
    }
    command
}

/// A parse error in the current language (clap's English otherwise): what is wrong, the
/// usage line, where to read more. None for what clap says best itself (help, version).
pub fn parse_error(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if current() == Lang::En {
        return None;
    }
    let get = |kind: ContextKind| -> String {
        match err.get(kind) {
            Some(ContextValue::String(text)) => text.clone(),
            Some(ContextValue::Strings(texts)) => texts.join(", "),
            Some(ContextValue::StyledStr(text)) => text.to_string(),
            Some(ContextValue::StyledStrs(texts)) => texts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            Some(ContextValue::Number(number)) => number.to_string(),
            _ => String::new(),
        }
    };
    let id = match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => return None,
        ErrorKind::UnknownArgument => "parse-unknown-argument",
        ErrorKind::InvalidSubcommand => "parse-invalid-subcommand",
        ErrorKind::InvalidValue => "parse-invalid-value",
        ErrorKind::ValueValidation => "parse-value-validation",
        ErrorKind::MissingRequiredArgument => "parse-missing-argument",
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "parse-missing-subcommand"
        }
        ErrorKind::ArgumentConflict => "parse-argument-conflict",
        ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
            "parse-wrong-number-of-values"
        }
        ErrorKind::NoEquals => "parse-no-equals",
        _ => "parse-other",
    };
    let suggested = [
        ContextKind::SuggestedArg,
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .map(get)
    .find(|text| !text.is_empty())
    .unwrap_or_default();
    let valid = get(ContextKind::ValidValue);
    let id = if id == "parse-invalid-value" && valid.is_empty() {
        "parse-value-validation"
    } else {
        id
    };
    // A validator's own reason (a duration that does not parse...), as gymops words it.
    let reason = std::error::Error::source(err)
        .map(|source| text(&source.to_string()))
        .unwrap_or_default();
    let fluent_args = [
        ("arg", get(ContextKind::InvalidArg)),
        ("value", get(ContextKind::InvalidValue)),
        ("valid", valid),
        ("prior", get(ContextKind::PriorArg)),
        ("sub", get(ContextKind::InvalidSubcommand)),
        ("reason", reason),
    ];
    let mut lines = vec![tr_args(
        "error-line",
        &[("message", tr_args(id, &fluent_args))],
    )];
    if !suggested.is_empty() {
        lines.push(tr_args("parse-did-you-mean", &[("suggested", suggested)]));
    }
    if let Some(ContextValue::StyledStr(usage)) = err.get(ContextKind::Usage) {
        let usage = usage.to_string();
        let usage = usage.trim().trim_start_matches("Usage:").trim();
        lines.push(tr_args("help-usage", &[("usage", usage.to_string())]));
    }
    lines.push(tr("parse-more"));
    Some(lines.join("\n"))
}

/// The message IDs of a catalogue's text (for the tests that keep both in step).
pub fn message_ids(source: &str) -> Vec<String> {
    let mut ids: Vec<String> = source
        .lines()
        .filter(|line| line.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .filter_map(|line| line.split_once('=').map(|(id, _)| id.trim().to_string()))
        .collect();
    ids.sort();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn both_catalogues_have_the_same_messages_and_parse() {
        assert_eq!(message_ids(EN), message_ids(ZH));
        assert!(message_ids(EN).len() > 50);
        for (lang, source) in [(Lang::En, EN), (Lang::Zh, ZH)] {
            bundle(lang, source).unwrap();
        }
    }

    #[test]
    fn a_damaged_catalogue_falls_back_to_english_and_a_missing_message_to_its_id() {
        let mut bundles = HashMap::new();
        bundles.insert(Lang::En, bundle(Lang::En, EN).unwrap());
        assert!(bundle(Lang::Zh, "status-ok = \n{ broken").is_err());
        // No Chinese bundle (it did not parse): English.
        assert_eq!(
            lookup(|l| bundles.get(&l), Lang::Zh, "status-ok", None),
            "OK"
        );
        assert_eq!(
            lookup(|l| bundles.get(&l), Lang::Zh, "no-such-message", None),
            "no-such-message"
        );
        bundles.insert(Lang::Zh, bundle(Lang::Zh, ZH).unwrap());
        assert_eq!(
            lookup(|l| bundles.get(&l), Lang::Zh, "status-critical", None),
            "严重"
        );
        let mut args = FluentArgs::new();
        args.set("status", "严重");
        args.set("counts", "严重 1 项");
        args.set("seconds", "0.03");
        assert_eq!(
            lookup(|l| bundles.get(&l), Lang::Zh, "health-summary", Some(&args)),
            "状态：严重（严重 1 项），用时 0.03 秒"
        );
    }

    #[test]
    fn the_language_comes_from_the_flag_the_setting_the_locale_then_english() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let zh_locale = env(&[("LANG", "zh_CN.UTF-8")]);
        assert_eq!(choose(None, None, &zh_locale), Lang::Zh);
        assert_eq!(choose(Some(Lang::En), None, &zh_locale), Lang::En);
        assert_eq!(choose(None, Some(Lang::En), &zh_locale), Lang::En);
        assert_eq!(choose(None, None, &env(&[])), Lang::En);
        // LC_ALL over LANG, as libc reads them.
        assert_eq!(
            from_locale(&env(&[("LC_ALL", "C.UTF-8"), ("LANG", "zh_TW.UTF-8")])),
            Some(Lang::En)
        );
        let args: Vec<String> = ["gymops", "--lang", "zh", "--help"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(before_parse(&args, &env(&[])), Lang::Zh);
        let args: Vec<String> = ["gymops", "--lang=en"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(before_parse(&args, &zh_locale), Lang::En);
        assert_eq!(before_parse(&[], &env(&[("GYMOPS_LANG", "zh")])), Lang::Zh);
    }

    #[test]
    fn the_english_one_line_helps_are_the_doc_comments() {
        // A command whose doc comment changes without its catalogue entry fails here (the
        // Chinese twin then needs the same change).
        fn walk(command: &clap::Command, path: &str) -> usize {
            let mut checked = 0;
            if let Some(about) = command.get_about() {
                let id = format!("cmd-{path}");
                assert_eq!(
                    lookup(compiled, Lang::En, &id, None),
                    about.to_string(),
                    "{id}"
                );
                checked += 1;
            }
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                let child = if path == "gymops" {
                    sub.get_name().to_string()
                } else {
                    format!("{path}-{}", sub.get_name())
                };
                checked += walk(sub, &child);
            }
            checked
        }
        let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
        command.build();
        let checked = walk(&command, "gymops");
        assert!(checked > 80, "{checked}");
    }

    #[test]
    fn every_table_header_of_the_source_has_its_chinese() {
        // The header lists of the source (`printer.table(&["A", "B"], ...)`, HEADERS
        // consts): each needs its `header-...` message, else it shows in English.
        let lists = regex::Regex::new(r#"&\[((?:\s*"[A-Z][A-Z0-9 %/._-]*",?)+)\s*\]"#).unwrap();
        let words = regex::Regex::new(r#""([^"]+)""#).unwrap();
        let known = message_ids(ZH);
        let (mut missing, mut checked) = (Vec::new(), 0);
        let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let source = std::fs::read_to_string(&path).unwrap();
                    let source = source.split("#[cfg(test)]\nmod tests").next().unwrap();
                    for list in lists.captures_iter(source) {
                        for word in words.captures_iter(&list[1]) {
                            let id = format!("header-{}", message_id(&word[1]));
                            checked += 1;
                            if !known.contains(&id) {
                                missing.push(format!("{}: {}", path.display(), &word[1]));
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 100, "{checked}");
        assert!(missing.is_empty(), "headers without Chinese: {missing:#?}");
    }

    #[test]
    fn headers_become_message_ids() {
        assert_eq!(message_id("MEM USAGE / LIMIT"), "mem-usage-limit");
        assert_eq!(message_id("CPU %"), "cpu");
        assert_eq!(message_id("FIRST SEEN"), "first-seen");
        assert_eq!(message_id("P99.9"), "p99-9");
    }
}
