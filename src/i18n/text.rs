//! The messages gymops writes in English in its source — errors, hints, warnings, notes,
//! progress lines — in the language of the run. The English text is the key, as gettext
//! has it: `locales/zh-messages.yaml` maps each message as the source writes it (format
//! placeholders included) to its Chinese. A finished message is matched against those
//! templates when it is shown; the placeholders' values are carried over, themselves
//! translated when they are messages of their own (a cause inside a message). A message no
//! template matches is shown as it is. A test keeps the catalogue and the source in step.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::Lang;

const ZH_MESSAGES: &str = include_str!("../../locales/zh-messages.yaml");

/// A piece of a message template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    /// A format placeholder: its name (`id` of `{id}` or `{id:?}`), None for `{}`/`{:?}`.
    Hole(Option<String>),
}

/// One catalogue entry, parsed.
struct Template {
    english: Vec<Piece>,
    chinese: Vec<Piece>,
    /// How specific it is: the most specific of several that match wins.
    weight: usize,
}

/// `cannot read {path}: {}` -> text and holes; `{{`/`}}` are braces.
fn pieces(template: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    inner.push(c);
                }
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                let name = inner.split(':').next().unwrap_or_default();
                let named = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
                out.push(Piece::Hole(named.then(|| name.to_string())));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// Whether a template has enough fixed text to be told from any other message: `{}: {}`
/// would match everything, so it is not a template (its parts are translated on their own).
pub(crate) fn distinctive(template: &str) -> bool {
    letters(&pieces(template)) >= 3
}

/// Letters of fixed text (for [`distinctive`]); for specificity, ties go to more fixed text.
fn letters(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(text) => text.chars().filter(|c| c.is_ascii_alphabetic()).count(),
            Piece::Hole(_) => 0,
        })
        .sum()
}

fn weight(pieces: &[Piece]) -> usize {
    let fixed: usize = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(text) => text.chars().count(),
            Piece::Hole(_) => 0,
        })
        .sum();
    letters(pieces) * 10_000 + fixed
}

/// The catalogue: English template -> Chinese template. None when it does not parse (then
/// nothing is translated; a test keeps it parsing).
fn catalogue() -> Option<&'static BTreeMap<String, String>> {
    static CATALOGUE: OnceLock<Option<BTreeMap<String, String>>> = OnceLock::new();
    CATALOGUE.get_or_init(|| parse(ZH_MESSAGES)).as_ref()
}

/// A catalogue's text as its map, or None (said at -v) when it is damaged.
fn parse(text: &str) -> Option<BTreeMap<String, String>> {
    serde_yaml::from_str(text)
        .map_err(|err| {
            tracing::info!(
                "the Chinese message catalogue cannot be read ({err}); messages stay English"
            )
        })
        .ok()
}

fn templates() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let Some(catalogue) = catalogue() else {
            return Vec::new();
        };
        catalogue
            .iter()
            .filter(|(english, _)| distinctive(english))
            .map(|(english, chinese)| {
                let english = pieces(english);
                Template {
                    weight: weight(&english),
                    english,
                    chinese: pieces(chinese),
                }
            })
            .collect()
    })
}

/// The values of `template`'s holes when `message` is that template filled in, else None.
/// A hole takes the shortest text that lets the rest match (and at least one character
/// when something follows it, as a value is rarely empty).
fn fill<'m>(template: &[Piece], message: &'m str) -> Option<Vec<&'m str>> {
    fn go<'m>(pieces: &[Piece], message: &'m str, values: &mut Vec<&'m str>) -> bool {
        match pieces.split_first() {
            None => message.is_empty(),
            Some((Piece::Text(text), rest)) => {
                message.starts_with(text.as_str()) && go(rest, &message[text.len()..], values)
            }
            Some((Piece::Hole(_), rest)) => {
                if rest.is_empty() {
                    values.push(message);
                    return true;
                }
                let Some(Piece::Text(next)) = rest.first() else {
                    // Two holes side by side: the first takes the least.
                    values.push("");
                    return go(rest, message, values);
                };
                let mut from = 0;
                while let Some(found) = message[from..].find(next.as_str()) {
                    let at = from + found;
                    values.push(&message[..at]);
                    if go(rest, &message[at..], values) {
                        return true;
                    }
                    values.pop();
                    from = at + message[at..].chars().next().map_or(1, char::len_utf8);
                }
                false
            }
        }
    }
    let mut values = Vec::new();
    go(template, message, &mut values).then_some(values)
}

/// The Chinese template filled with the English one's values: a named hole takes the value
/// of the English hole of that name, an unnamed one the English unnamed ones in order.
fn render(template: &Template, values: &[&str], depth: usize) -> String {
    let holes: Vec<&Option<String>> = template
        .english
        .iter()
        .filter_map(|piece| match piece {
            Piece::Hole(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect();
    let mut unnamed = holes
        .iter()
        .zip(values)
        .filter(|(name, _)| name.is_none())
        .map(|(_, value)| *value);
    let mut out = String::new();
    for piece in &template.chinese {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Hole(Some(name)) => {
                let value = holes
                    .iter()
                    .position(|hole| hole.as_deref() == Some(name.as_str()))
                    .and_then(|index| values.get(index))
                    .copied()
                    .unwrap_or_default();
                out.push_str(&translate(value, depth + 1));
            }
            Piece::Hole(None) => {
                out.push_str(&translate(unnamed.next().unwrap_or_default(), depth + 1))
            }
        }
    }
    out
}

/// `message` in Chinese when a template matches it (the most specific one), else as it is.
fn translate(message: &str, depth: usize) -> String {
    if depth > 3 || message.is_empty() {
        return message.to_string();
    }
    if let Some((template, values)) = best(message) {
        return render(template, &values, depth);
    }
    // `what: why` put together at run time (as an error chain is): a known first part
    // translated, the rest on its own.
    let mut from = 0;
    while let Some(found) = message[from..].find(": ") {
        let at = from + found;
        let (head, rest) = (&message[..at], &message[at + 2..]);
        if let Some((template, values)) = best(head) {
            let head = if depth < 3 {
                render(template, &values, depth + 1)
            } else {
                head.to_string()
            };
            return format!("{head}：{}", translate(rest, depth + 1));
        }
        from = at + 2;
    }
    message.to_string()
}

/// The most specific template `message` fills in, with its values.
fn best(message: &str) -> Option<(&'static Template, Vec<&str>)> {
    templates()
        .iter()
        .filter_map(|template| fill(&template.english, message).map(|values| (template, values)))
        .max_by_key(|(template, _)| template.weight)
}

/// A message written in English, in the language of the run.
pub fn text(message: &str) -> String {
    match super::current() {
        Lang::En => message.to_string(),
        Lang::Zh => translate(message, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_split_into_text_and_holes() {
        assert_eq!(
            pieces("cannot read {}: {err:?} {{x}}"),
            vec![
                Piece::Text("cannot read ".into()),
                Piece::Hole(None),
                Piece::Text(": ".into()),
                Piece::Hole(Some("err".into())),
                Piece::Text(" {x}".into()),
            ]
        );
        assert!(!distinctive("{}: {}"));
        assert!(distinctive("cannot read {}"));
    }

    #[test]
    fn a_finished_message_is_translated_with_its_values_and_inner_messages() {
        assert_eq!(
            translate("cannot inspect container 3f2a9c", 0),
            "无法检查容器 3f2a9c"
        );
        // A value that is a message of its own is translated too.
        assert_eq!(
            translate(
                "the backup pipeline failed: pg_dump's output ended early (no end-of-dump marker)",
                0
            ),
            "备份管道失败：pg_dump 的输出提前结束（没有转储结束标记）"
        );
        // Unnamed values keep their order; named ones go where the Chinese puts them.
        assert_eq!(
            translate(
                "another backup or restore is running in /b: pid 7 (host a)",
                0
            ),
            "/b 中另一个备份或恢复正在运行：pid 7（host a）"
        );
        assert_eq!(
            translate("cannot list logs in backend: denied", 0),
            "无法列出 backend 中的 logs：denied"
        );
        // Nothing matches: as it is.
        assert_eq!(translate("connection refused", 0), "connection refused");
        // A known first part put together with a cause at run time.
        assert_eq!(
            translate("cannot connect: Connection refused (os error 111)", 0),
            "无法连接：Connection refused (os error 111)"
        );
    }

    #[test]
    fn a_damaged_catalogue_is_none_never_a_panic() {
        assert!(parse("\"cannot read {}\": [unclosed").is_none());
        assert!(parse("- a list\n- not a map\n").is_none());
        assert_eq!(parse("\"a {}\": \"甲 {}\"\n").unwrap().len(), 1);
    }

    #[test]
    fn the_most_specific_template_wins() {
        // `S3 answered {status}` also matches, with `500: SlowDown` as its status.
        assert_eq!(
            translate("S3 answered 503: SlowDown", 0),
            "S3 返回 503：SlowDown"
        );
    }

    /// The messages of the source: the first string literal of each call that writes text
    /// for people (errors, contexts, hints, warnings, notes, progress lines), test modules
    /// left out. The English side of the catalogue.
    fn source_messages() -> BTreeMap<String, String> {
        let calls = regex::Regex::new(
            r#"(?s)(?:say!|\bprogress\(&format!|\bstep\(&format!|anyhow!|bail!|\.context|\.with_context\(\s*\|\|\s*format!|\.hint\(format!|\.hint|\.note\(&format!|\.note|\.warn\(&format!|\.warn|\.step\(&format!|\.step|\.status\(&format!|\.transient\(&format!|\.terminal_line\(&format!)\s*\(\s*"((?:[^"\\]|\\.)*)""#,
        )
        .unwrap();
        let mut found = BTreeMap::new();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let source = without_test_modules(&std::fs::read_to_string(&path).unwrap());
                for capture in calls.captures_iter(&source) {
                    let message = unescape(&capture[1]);
                    if distinctive(&message) {
                        found
                            .entry(message)
                            .or_insert_with(|| path.display().to_string());
                    }
                }
            }
        }
        found
    }

    /// The source without its `#[cfg(test)] mod NAME { ... }` blocks (wherever they are in
    /// the file); `#[cfg(test)] mod NAME;` (a file of its own) is never read here either.
    fn without_test_modules(source: &str) -> String {
        let mut out = String::new();
        let mut rest = source;
        while let Some(at) = rest.find("#[cfg(test)]") {
            out.push_str(&rest[..at]);
            let after = &rest[at..];
            let Some(open) = after.find('{').filter(|open| {
                let head = &after[..*open];
                head.contains("mod ") && !head.contains(';')
            }) else {
                out.push_str("#[cfg(test)]");
                rest = &after["#[cfg(test)]".len()..];
                continue;
            };
            // To the brace that closes the module, skipping string and char literals.
            let bytes = after.as_bytes();
            let (mut depth, mut index) = (0usize, open);
            while index < bytes.len() {
                match bytes[index] {
                    b'"' => {
                        index += 1;
                        while index < bytes.len() && bytes[index] != b'"' {
                            index += if bytes[index] == b'\\' { 2 } else { 1 };
                        }
                    }
                    b'\'' if bytes.get(index + 2) == Some(&b'\'') => index += 2,
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                index += 1;
            }
            rest = &after[(index + 1).min(after.len())..];
        }
        out.push_str(rest);
        out
    }

    /// A Rust string literal's text.
    fn unescape(literal: &str) -> String {
        let mut out = String::new();
        let mut chars = literal.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\n') => {
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                }
                Some(other) => out.push(other),
                None => {}
            }
        }
        out
    }

    #[test]
    fn every_message_of_the_source_has_its_chinese_and_every_entry_a_message() {
        let catalogue = catalogue().expect("locales/zh-messages.yaml parses");
        let source = source_messages();
        assert!(source.len() > 500, "{}", source.len());
        let missing: Vec<String> = source
            .iter()
            .filter(|(message, _)| !catalogue.contains_key(*message))
            .map(|(message, file)| format!("{file}: {message:?}"))
            .collect();
        assert!(
            missing.is_empty(),
            "messages without Chinese in locales/zh-messages.yaml:\n{}",
            missing.join("\n")
        );
        let stale: Vec<&String> = catalogue
            .keys()
            .filter(|message| !source.contains_key(*message))
            .collect();
        assert!(
            stale.is_empty(),
            "entries of locales/zh-messages.yaml no message of the source has:\n{stale:#?}"
        );
    }

    #[test]
    fn each_translation_has_the_placeholders_of_its_message() {
        for (english, chinese) in catalogue().unwrap() {
            let holes = |text: &str| {
                let mut holes: Vec<Piece> = pieces(text)
                    .into_iter()
                    .filter(|piece| matches!(piece, Piece::Hole(_)))
                    .collect();
                holes.sort_by_key(|piece| format!("{piece:?}"));
                holes
            };
            assert_eq!(holes(english), holes(chinese), "{english:?} -> {chinese:?}");
        }
    }
}
