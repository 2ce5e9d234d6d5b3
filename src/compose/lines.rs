//! Where each key of a YAML text is: key path (`services.api.ports[0].target`) to its line,
//! from the parser's events, so block and flow mappings (`{...}`) alike and a key text that
//! appears many times each get their own line. Pure.

use std::collections::BTreeMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

enum Frame {
    /// A mapping: the key being read, once its scalar came.
    Mapping {
        key: Option<String>,
    },
    Sequence {
        index: usize,
    },
}

#[derive(Default)]
struct Collector {
    stack: Vec<Frame>,
    /// The path of each open container.
    paths: Vec<String>,
    lines: BTreeMap<String, usize>,
}

impl Collector {
    fn current_path(&self) -> String {
        self.paths.last().cloned().unwrap_or_default()
    }

    /// The path of the value that starts now, in the innermost container.
    fn child_path(&self) -> Option<String> {
        let base = self.current_path();
        match self.stack.last()? {
            Frame::Mapping { key: Some(key) } => Some(if base.is_empty() {
                key.clone()
            } else {
                format!("{base}.{key}")
            }),
            Frame::Mapping { key: None } => None,
            Frame::Sequence { index } => Some(format!("{base}[{index}]")),
        }
    }

    /// A value (scalar, alias, or a closed container) ended in the innermost container.
    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Mapping { key }) => *key = None,
            Some(Frame::Sequence { index }) => *index += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, ..) => match self.stack.last_mut() {
                Some(Frame::Mapping { key }) if key.is_none() => {
                    *key = Some(text);
                    if let Some(path) = self.child_path() {
                        self.lines.entry(path).or_insert(mark.line());
                    }
                }
                _ => {
                    if let Some(path) = self.child_path() {
                        self.lines.entry(path).or_insert(mark.line());
                    }
                    self.value_done();
                }
            },
            Event::Alias(_) => self.value_done(),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.child_path().unwrap_or_else(|| self.current_path());
                if let Some(Frame::Sequence { .. }) = self.stack.last() {
                    self.lines.entry(path.clone()).or_insert(mark.line());
                }
                self.paths.push(path);
                self.stack
                    .push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Mapping { key: None }
                    } else {
                        Frame::Sequence { index: 0 }
                    });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.paths.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

/// Key path -> 1-based line, for the first document of `text`. Empty when the text does not
/// parse (the YAML error is reported elsewhere).
pub fn index(text: &str) -> BTreeMap<String, usize> {
    let mut collector = Collector::default();
    let mut parser = Parser::new_from_str(text);
    if parser.load(&mut collector, false).is_err() {
        return BTreeMap::new();
    }
    collector.lines
}

/// The line of `path`, or of its nearest ancestor that has one.
pub fn line_of(index: &BTreeMap<String, usize>, path: &str) -> Option<usize> {
    let mut path = path.to_string();
    loop {
        if let Some(line) = index.get(&path) {
            return Some(*line);
        }
        let cut = path.rfind(['.', '['])?;
        path.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_and_flow_keys_each_get_their_own_line() {
        let text = "services:\n  api:\n    image: x\n    cap_addd: [A]\n    healthcheck: {test: [CMD, 'true'], intervl: 5s}\n    ports:\n      - {target: 80, publishd: 8080}\n      - '90'\n  web:\n    image: y\n    cap_addd: [B]\n";
        let index = index(text);
        assert_eq!(index["services"], 1);
        assert_eq!(index["services.api.cap_addd"], 4);
        assert_eq!(index["services.api.healthcheck.intervl"], 5);
        assert_eq!(index["services.api.ports[0].publishd"], 7);
        assert_eq!(index["services.api.ports[1]"], 8);
        assert_eq!(
            index["services.web.cap_addd"], 11,
            "the same key text again"
        );
        assert_eq!(line_of(&index, "services.web.cap_addd.x"), Some(11));
        assert_eq!(line_of(&index, "nowhere"), None);
    }

    #[test]
    fn text_that_is_not_yaml_has_no_lines() {
        assert!(index("a: [").is_empty());
    }
}
