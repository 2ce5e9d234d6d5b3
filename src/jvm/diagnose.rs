//! The deeper JVM diagnoses of `perf jvm`: which threads burn CPU (two `jcmd Thread.print`
//! dumps a window apart: each thread's `cpu=` time, JDK 11+), what fills the heap
//! (`GC.class_histogram`), and native memory (`VM.native_memory summary`). Pure parsing.

use serde::Serialize;

/// A thread of a `Thread.print` dump with its CPU time so far.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedThread {
    pub name: String,
    /// `tid=0x...`: unique while the thread lives.
    pub tid: String,
    pub cpu_ms: f64,
    pub elapsed_s: Option<f64>,
    pub state: String,
    pub frames: Vec<String>,
}

fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    header
        .split_whitespace()
        .find_map(|word| word.strip_prefix(key))
}

fn millis(text: &str) -> Option<f64> {
    if let Some(ms) = text.strip_suffix("ms") {
        ms.parse().ok()
    } else if let Some(s) = text.strip_suffix('s') {
        s.parse::<f64>().ok().map(|s| s * 1000.0)
    } else {
        None
    }
}

/// Every thread of a dump that has a `cpu=` time: Java threads and the VM's own (GC,
/// compiler), with up to `frames` frames each.
pub fn timed_threads(dump: &str, frames: usize) -> Vec<TimedThread> {
    super::dump_threads(dump)
        .into_iter()
        .filter_map(|thread| {
            let cpu_ms = field(&thread.header, "cpu=").and_then(millis)?;
            let tid = field(&thread.header, "tid=")?.to_string();
            let state = thread.state.unwrap_or_else(|| {
                if thread.header.ends_with("runnable") || thread.header.contains(" runnable ") {
                    "RUNNABLE".into()
                } else {
                    "-".into()
                }
            });
            Some(TimedThread {
                elapsed_s: field(&thread.header, "elapsed=")
                    .and_then(millis)
                    .map(|ms| ms / 1000.0),
                name: thread.name,
                tid,
                cpu_ms,
                state,
                frames: thread.frames.into_iter().take(frames).collect(),
            })
        })
        .collect()
}

/// A thread and the CPU it used over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HotThread {
    pub name: String,
    pub state: String,
    /// CPU over the window, 100 = one core.
    pub cpu_percent: f64,
    pub cpu_ms: f64,
    pub frames: Vec<String>,
}

/// The window between two dumps, from the threads that lived through both (their
/// `elapsed=` grew by it); None without such a thread.
pub fn window_seconds(first: &[TimedThread], second: &[TimedThread]) -> Option<f64> {
    second
        .iter()
        .filter_map(|after| {
            let before = first
                .iter()
                .find(|b| b.tid == after.tid && b.name == after.name)?;
            Some(after.elapsed_s? - before.elapsed_s?)
        })
        .filter(|w| *w > 0.0)
        .fold(None, |max: Option<f64>, w| {
            Some(max.map_or(w, |m| m.max(w)))
        })
}

/// The threads by CPU used between the dumps, most first; a thread born during the window
/// counts all its time.
pub fn hot_threads(
    first: &[TimedThread],
    second: &[TimedThread],
    window_s: f64,
    top: usize,
) -> Vec<HotThread> {
    let mut hot: Vec<HotThread> = second
        .iter()
        .map(|after| {
            let before = first
                .iter()
                .find(|b| b.tid == after.tid && b.name == after.name)
                .map_or(0.0, |b| b.cpu_ms);
            let used = (after.cpu_ms - before).max(0.0);
            HotThread {
                name: after.name.clone(),
                state: after.state.clone(),
                cpu_percent: if window_s > 0.0 {
                    used / (window_s * 1000.0) * 100.0
                } else {
                    0.0
                },
                cpu_ms: used,
                frames: after.frames.clone(),
            }
        })
        .collect();
    hot.sort_by(|a, b| {
        b.cpu_ms
            .partial_cmp(&a.cpu_ms)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.name.cmp(&b.name))
    });
    hot.truncate(top);
    hot
}

/// A class of the heap histogram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassRow {
    pub rank: u32,
    pub class: String,
    /// `java.base@17.0.9` when the JVM says.
    pub module: Option<String>,
    pub instances: u64,
    pub bytes: u64,
}

/// `GC.class_histogram`: the top `top` classes and the totals (instances, bytes).
pub fn parse_class_histogram(text: &str, top: usize) -> Option<(Vec<ClassRow>, u64, u64)> {
    let mut rows = Vec::new();
    let mut totals = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Total") {
            let numbers: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            if let [instances, bytes] = numbers[..] {
                totals = Some((instances, bytes));
            }
            continue;
        }
        let Some((rank, rest)) = line.split_once(':') else {
            continue;
        };
        let Ok(rank) = rank.trim().parse::<u32>() else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(instances), Some(bytes)) = (
            parts.next().and_then(|n| n.parse().ok()),
            parts.next().and_then(|n| n.parse().ok()),
        ) else {
            continue;
        };
        let name: Vec<&str> = parts.collect();
        let (class, module) = match name.as_slice() {
            [class, module] if module.starts_with('(') => (
                class.to_string(),
                Some(module.trim_matches(['(', ')']).to_string()),
            ),
            other => (other.join(" "), None),
        };
        if rows.len() < top {
            rows.push(ClassRow {
                rank,
                class,
                module,
                instances,
                bytes,
            });
        }
    }
    let (instances, bytes) = totals?;
    Some((rows, instances, bytes))
}

/// A category of native memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NativeArea {
    pub category: String,
    pub reserved_bytes: u64,
    pub committed_bytes: u64,
}

fn reserved_committed(text: &str) -> Option<(u64, u64)> {
    let kb = |key: &str| -> Option<u64> {
        let start = text.find(key)? + key.len();
        let digits: String = text[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let value: u64 = digits.parse().ok()?;
        let unit = &text[start + digits.len()..];
        Some(if unit.starts_with("MB") {
            value << 20
        } else if unit.starts_with("GB") {
            value << 30
        } else if unit.starts_with("KB") {
            value << 10
        } else {
            value
        })
    };
    Some((kb("reserved=")?, kb("committed=")?))
}

/// Why `VM.native_memory` gave nothing: tracking is off.
pub const NMT_OFF: &str = "Native memory tracking is not enabled";

/// `VM.native_memory summary`: the total and each category (largest committed first).
pub fn parse_native_memory(text: &str) -> Option<(NativeArea, Vec<NativeArea>)> {
    let mut total = None;
    let mut areas = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Total:") {
            let (reserved, committed) = reserved_committed(rest)?;
            total = Some(NativeArea {
                category: "Total".into(),
                reserved_bytes: reserved,
                committed_bytes: committed,
            });
        } else if let Some(rest) = line.strip_prefix('-') {
            let Some((name, numbers)) = rest.split_once('(') else {
                continue;
            };
            if let Some((reserved, committed)) = reserved_committed(numbers) {
                areas.push(NativeArea {
                    category: name.trim().to_string(),
                    reserved_bytes: reserved,
                    committed_bytes: committed,
                });
            }
        }
    }
    areas.sort_by(|a, b| {
        b.committed_bytes
            .cmp(&a.committed_bytes)
            .then(a.category.cmp(&b.category))
    });
    Some((total?, areas))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = r#"2026-11-29 05:50:00
Full thread dump OpenJDK 64-Bit Server VM (17.0.13+11-Debian-2deb12u1 mixed mode, sharing):

"main" #1 prio=5 os_prio=0 cpu=180.00ms elapsed=10.00s tid=0x00007f01 nid=0x7 waiting on condition  [0x00007f]
   java.lang.Thread.State: TIMED_WAITING (sleeping)
	at java.lang.Thread.sleep(java.base@17.0.13/Native Method)
	at Spin.main(Spin.java:20)

"busy-spinner" #12 prio=5 os_prio=0 cpu=4000.00ms elapsed=9.50s tid=0x00007f02 nid=0x12 runnable  [0x00007e]
   java.lang.Thread.State: RUNNABLE
	at Spin.spin(Spin.java:8)
	at Spin.lambda$main$0(Spin.java:14)
	at Spin$$Lambda$1/0x0000000800c00a08.run(Unknown Source)
	at java.lang.Thread.run(java.base@17.0.13/Thread.java:840)

"GC Thread#0" os_prio=0 cpu=12.50ms elapsed=10.00s tid=0x00007f03 nid=0x8 runnable  

"Attach Listener" #13 daemon prio=9 os_prio=0 cpu=0.50ms elapsed=0.10s tid=0x00007f04 nid=0x20 waiting on condition  [0x0]
   java.lang.Thread.State: RUNNABLE
"#;

    fn second() -> String {
        FIRST
            .replace(
                "cpu=180.00ms elapsed=10.00s tid=0x00007f01",
                "cpu=180.00ms elapsed=12.00s tid=0x00007f01",
            )
            .replace(
                "cpu=4000.00ms elapsed=9.50s",
                "cpu=5980.00ms elapsed=11.50s",
            )
            .replace("cpu=12.50ms elapsed=10.00s", "cpu=22.50ms elapsed=12.00s")
    }

    #[test]
    fn the_spinning_thread_comes_out_on_top_with_its_stack() {
        let first = timed_threads(FIRST, 5);
        let second = timed_threads(&second(), 5);
        assert_eq!(first.len(), 4);
        let window = window_seconds(&first, &second).unwrap();
        assert!((window - 2.0).abs() < 1e-9);
        let hot = hot_threads(&first, &second, window, 3);
        assert_eq!(hot[0].name, "busy-spinner");
        assert!((hot[0].cpu_percent - 99.0).abs() < 1e-9, "{hot:?}");
        assert_eq!(hot[0].state, "RUNNABLE");
        assert_eq!(hot[0].frames[0], "Spin.spin(Spin.java:8)");
        assert_eq!(hot[1].name, "GC Thread#0");
        assert!((hot[1].cpu_percent - 0.5).abs() < 1e-9);
        assert_eq!(hot.len(), 3);
    }

    #[test]
    fn the_class_histogram_gives_the_top_classes_and_totals() {
        let text = " num     #instances         #bytes  class name (module)\n-------------------------------------------------------\n   1:           520       16787456  [B (java.base@17.0.13)\n   2:          4213         101112  java.lang.String (java.base@17.0.13)\n   3:            10            480  Spin$Holder\nTotal          4743       16889048\n";
        let (rows, instances, bytes) = parse_class_histogram(text, 2).unwrap();
        assert_eq!((instances, bytes), (4743, 16_889_048));
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].class.as_str(),
                rows[0].module.as_deref(),
                rows[0].bytes
            ),
            ("[B", Some("java.base@17.0.13"), 16_787_456)
        );
        let (all, _, _) = parse_class_histogram(text, 10).unwrap();
        assert_eq!(
            (all[2].class.as_str(), all[2].module.as_deref()),
            ("Spin$Holder", None)
        );
        assert!(parse_class_histogram("garbage", 5).is_none());
    }

    #[test]
    fn native_memory_summary_is_read_in_bytes() {
        let text = "\nNative Memory Tracking:\n\n(Omitting categories weighting less than 1KB)\n\nTotal: reserved=1521866KB, committed=140550KB\n       malloc: 14018KB #18270\n       mmap:   reserved=1507848KB, committed=126532KB\n\n-                 Java Heap (reserved=131072KB, committed=8192KB)\n                            (mmap: reserved=131072KB, committed=8192KB) \n \n-                     Class (reserved=1048857KB, committed=281KB)\n-                    Thread (reserved=20604KB, committed=20604KB)\n";
        let (total, areas) = parse_native_memory(text).unwrap();
        assert_eq!(
            (total.reserved_bytes, total.committed_bytes),
            (1_521_866 << 10, 140_550 << 10)
        );
        assert_eq!(areas[0].category, "Thread");
        assert_eq!(areas[1].category, "Java Heap");
        assert!(parse_native_memory(NMT_OFF).is_none());
    }
}
