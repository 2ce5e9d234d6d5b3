//! The backend's JVM: heap and non-heap memory, garbage collection, threads — read from
//! Spring Boot's actuator metrics, or from `jstat` / `jcmd` output. Pure parsing here; the
//! command does the I/O.

pub mod diagnose;
pub mod jcmd;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Memory {
    pub used_bytes: u64,
    pub committed_bytes: u64,
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Gc {
    /// young, full, concurrent (jstat), or the actuator's action (end of minor GC ...).
    pub name: String,
    pub count: u64,
    pub seconds: f64,
    pub max_pause_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Threads {
    pub live: u64,
    pub daemon: u64,
    pub peak: Option<u64>,
    /// RUNNABLE, WAITING, TIMED_WAITING, BLOCKED, NEW, TERMINATED -> threads.
    pub states: BTreeMap<String, u64>,
}

/// A group of threads sharing their top frames.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stack {
    pub threads: u64,
    pub state: String,
    pub frames: Vec<String>,
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ThreadDump {
    pub threads: u64,
    pub states: BTreeMap<String, u64>,
    /// The most common stacks (top three frames), most threads first.
    pub top_stacks: Vec<Stack>,
    /// BLOCKED threads and the lock each waits for.
    pub blocked: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JvmReport {
    /// `actuator (URL)` or `jcmd in CONTAINER (pid N)`.
    pub source: String,
    pub heap: Memory,
    pub non_heap: Memory,
    pub gc: Vec<Gc>,
    pub threads: Threads,
    pub thread_dump: Option<ThreadDump>,
}

/// `jstat -gc PID`: two lines, column names and values (KiB, counts, seconds).
pub fn parse_jstat_gc(text: &str) -> Option<(Memory, Memory, Vec<Gc>)> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let values: Vec<&str> = lines.next()?.split_whitespace().collect();
    if names.len() != values.len() {
        return None;
    }
    let column: BTreeMap<&str, f64> = names
        .iter()
        .zip(&values)
        .filter_map(|(n, v)| Some((*n, v.parse::<f64>().ok()?)))
        .collect();
    let get = |name: &str| column.get(name).copied().unwrap_or(0.0);
    let kib = |value: f64| (value * 1024.0) as u64;
    let heap = Memory {
        used_bytes: kib(get("S0U") + get("S1U") + get("EU") + get("OU")),
        committed_bytes: kib(get("S0C") + get("S1C") + get("EC") + get("OC")),
        max_bytes: None,
    };
    let non_heap = Memory {
        used_bytes: kib(get("MU") + get("CCSU")),
        committed_bytes: kib(get("MC") + get("CCSC")),
        max_bytes: None,
    };
    if !column.contains_key("EU") || !column.contains_key("YGC") {
        return None;
    }
    let mut gc = vec![
        Gc {
            name: "young".into(),
            count: get("YGC") as u64,
            seconds: get("YGCT"),
            max_pause_seconds: None,
        },
        Gc {
            name: "full".into(),
            count: get("FGC") as u64,
            seconds: get("FGCT"),
            max_pause_seconds: None,
        },
    ];
    if column.contains_key("CGC") {
        gc.push(Gc {
            name: "concurrent".into(),
            count: get("CGC") as u64,
            seconds: get("CGCT"),
            max_pause_seconds: None,
        });
    }
    Some((heap, non_heap, gc))
}

/// `-XX:MaxHeapSize=N` from `jcmd PID VM.flags`.
pub fn parse_max_heap(text: &str) -> Option<u64> {
    text.split_whitespace()
        .find_map(|flag| flag.strip_prefix("-XX:MaxHeapSize="))
        .and_then(|n| n.parse().ok())
}

/// Metaspace from `jcmd PID GC.heap_info` (`Metaspace used 8951K, committed 9152K, ...`):
/// read live, where jstat's MC/MU stay 0 until the first collection.
pub fn parse_metaspace(text: &str) -> Option<Memory> {
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with("Metaspace"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let kib = |name: &str| -> Option<u64> {
        let at = words.iter().position(|w| *w == name)?;
        let value = words.get(at + 1)?.trim_end_matches(',');
        value
            .strip_suffix('K')?
            .parse::<u64>()
            .ok()
            .map(|k| k * 1024)
    };
    Some(Memory {
        used_bytes: kib("used")?,
        committed_bytes: kib("committed")?,
        max_bytes: None,
    })
}

/// The JVM to look at in `jcmd -l`: the first that is not jcmd itself.
pub fn parse_jcmd_list(text: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let (pid, main) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
        let pid: u32 = pid.parse().ok()?;
        (!main.contains("JCmd")).then_some(pid)
    })
}

/// One thread of a dump, whatever the source.
struct ParsedThread {
    name: String,
    state: String,
    daemon: bool,
    frames: Vec<String>,
    lock: Option<String>,
}

fn summarize(threads: Vec<ParsedThread>) -> ThreadDump {
    let mut dump = ThreadDump {
        threads: threads.len() as u64,
        ..ThreadDump::default()
    };
    let mut groups: BTreeMap<(String, Vec<String>), Vec<String>> = BTreeMap::new();
    for ParsedThread {
        name,
        state,
        frames,
        lock,
        ..
    } in threads
    {
        *dump.states.entry(state.clone()).or_default() += 1;
        if state == "BLOCKED" {
            dump.blocked.push(match lock {
                Some(lock) => format!("{name}: waiting for {lock}"),
                None => name.clone(),
            });
        }
        let top: Vec<String> = frames.into_iter().take(3).collect();
        groups.entry((state, top)).or_default().push(name);
    }
    let mut stacks: Vec<Stack> = groups
        .into_iter()
        .map(|((state, frames), names)| Stack {
            threads: names.len() as u64,
            state,
            frames,
            examples: names.into_iter().take(3).collect(),
        })
        .collect();
    stacks.sort_by(|a, b| b.threads.cmp(&a.threads).then(a.frames.cmp(&b.frames)));
    stacks.truncate(8);
    dump.top_stacks = stacks;
    dump
}

/// A thread of a `jcmd Thread.print` dump as written: the name, the rest of its header line
/// (`#12 daemon prio=5 ... cpu=1.5ms elapsed=2.1s tid=0x.. nid=0x.. runnable`), and the
/// lines below it.
pub struct DumpThread {
    pub name: String,
    pub header: String,
    /// `java.lang.Thread.State:` (Java threads only).
    pub state: Option<String>,
    /// `at ...` lines, whole.
    pub frames: Vec<String>,
    /// What a BLOCKED thread waits to lock.
    pub lock: Option<String>,
}

/// Every thread of a `Thread.print` dump: Java threads and the VM's own.
pub fn dump_threads(text: &str) -> Vec<DumpThread> {
    let mut threads = Vec::new();
    let mut current: Option<DumpThread> = None;
    for line in text.lines() {
        if let Some(header) = line.strip_prefix('"') {
            threads.extend(current.take());
            if let Some((name, rest)) = header.rsplit_once('"') {
                current = Some(DumpThread {
                    name: name.to_string(),
                    header: rest.trim().to_string(),
                    state: None,
                    frames: Vec::new(),
                    lock: None,
                });
            }
            continue;
        }
        let Some(thread) = current.as_mut() else {
            continue;
        };
        let trimmed = line.trim();
        if let Some(state) = trimmed.strip_prefix("java.lang.Thread.State: ") {
            thread.state = Some(state.split_whitespace().next().unwrap_or(state).to_string());
        } else if let Some(frame) = trimmed.strip_prefix("at ") {
            thread.frames.push(frame.to_string());
        } else if let Some(lock) = trimmed.strip_prefix("- waiting to lock ") {
            thread.lock = Some(lock.to_string());
        }
    }
    threads.extend(current);
    threads
}

/// `jcmd PID Thread.print`: Java threads (`"name" #N ...`), their state and frames.
pub fn parse_thread_print(text: &str) -> (Threads, ThreadDump) {
    let parsed: Vec<ParsedThread> = dump_threads(text)
        .into_iter()
        // Java threads carry a number (`#12`); the VM's own threads do not.
        .filter(|t| t.header.starts_with('#'))
        .map(|t| ParsedThread {
            daemon: t.header.split_whitespace().any(|w| w == "daemon"),
            name: t.name,
            state: t.state.unwrap_or_else(|| "UNKNOWN".into()),
            frames: t
                .frames
                .iter()
                .map(|f| f.split('(').next().unwrap_or(f).to_string())
                .collect(),
            lock: t.lock,
        })
        .collect();
    let threads = Threads {
        live: parsed.len() as u64,
        daemon: parsed.iter().filter(|t| t.daemon).count() as u64,
        peak: None,
        states: BTreeMap::new(),
    };
    let dump = summarize(parsed);
    (
        Threads {
            states: dump.states.clone(),
            ..threads
        },
        dump,
    )
}

/// Spring Boot's `/actuator/threaddump` JSON.
pub fn parse_threaddump_json(value: &Value) -> ThreadDump {
    let threads = value["threads"].as_array().cloned().unwrap_or_default();
    summarize(
        threads
            .iter()
            .map(|t| {
                let frames = t["stackTrace"]
                    .as_array()
                    .map(|frames| {
                        frames
                            .iter()
                            .map(|f| {
                                format!(
                                    "{}.{}",
                                    f["className"].as_str().unwrap_or("?"),
                                    f["methodName"].as_str().unwrap_or("?")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                ParsedThread {
                    name: t["threadName"].as_str().unwrap_or("?").to_string(),
                    state: t["threadState"].as_str().unwrap_or("UNKNOWN").to_string(),
                    daemon: t["daemon"].as_bool().unwrap_or(false),
                    frames,
                    lock: t["lockName"]
                        .as_str()
                        .map(|lock| match t["lockOwnerName"].as_str() {
                            Some(owner) => format!("{lock} held by {owner}"),
                            None => lock.to_string(),
                        }),
                }
            })
            .collect(),
    )
}

/// One statistic of an actuator metric (`VALUE`, `COUNT`, `TOTAL_TIME`, `MAX`).
pub fn statistic(metric: &Value, name: &str) -> Option<f64> {
    metric["measurements"]
        .as_array()?
        .iter()
        .find(|m| m["statistic"] == name)
        .and_then(|m| m["value"].as_f64())
}

/// The values of one of a metric's available tags (`action` of jvm.gc.pause ...).
pub fn tag_values(metric: &Value, tag: &str) -> Vec<String> {
    metric["availableTags"]
        .as_array()
        .and_then(|tags| tags.iter().find(|t| t["tag"] == tag))
        .and_then(|t| t["values"].as_array())
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSTAT: &str = " S0C    S1C    S0U    S1U      EC       EU        OC         OU       MC     MU    CCSC   CCSU   YGC     YGCT    FGC    FGCT    CGC    CGCT     GCT   \n 0.0   4096.0  0.0   4096.0  61440.0  20480.0   196608.0    10240.5  12288.0 11776.3 1536.0 1320.1      7    0.052   0      0.000   4      0.003    0.055\n";

    #[test]
    fn jstat_columns_become_memory_and_gc() {
        let (heap, non_heap, gc) = parse_jstat_gc(JSTAT).unwrap();
        assert_eq!(
            heap.used_bytes,
            ((4096.0 + 20480.0 + 10240.5) * 1024.0) as u64
        );
        assert_eq!(
            heap.committed_bytes,
            ((4096.0 + 61440.0 + 196608.0) * 1024.0) as u64
        );
        assert_eq!(non_heap.used_bytes, ((11776.3 + 1320.1) * 1024.0) as u64);
        assert_eq!(gc[0].name, "young");
        assert_eq!(gc[0].count, 7);
        assert!((gc[0].seconds - 0.052).abs() < 1e-9);
        assert_eq!(gc[2].name, "concurrent");
        assert!(parse_jstat_gc("garbage").is_none());
    }

    #[test]
    fn metaspace_is_read_from_heap_info_of_old_and_new_jdks() {
        let jdk17 = " tenured generation   total 87424K, used 0K [0x1, 0x2)\n Metaspace       used 8951K, committed 9152K, reserved 1114112K\n  class space    used 1062K, committed 1152K, reserved 1048576K\n";
        let m = parse_metaspace(jdk17).unwrap();
        assert_eq!(m.used_bytes, 8951 * 1024);
        assert_eq!(m.committed_bytes, 9152 * 1024);
        let jdk8 =
            " Metaspace       used 2647K, capacity 4486K, committed 4864K, reserved 1056768K\n";
        assert_eq!(parse_metaspace(jdk8).unwrap().committed_bytes, 4864 * 1024);
        assert!(parse_metaspace("no such line").is_none());
    }

    #[test]
    fn thread_print_states_daemons_stacks_and_locks() {
        let text = "2026-11-27 10:00:00\nFull thread dump OpenJDK 64-Bit Server VM:\n\n\
\"main\" #1 prio=5 os_prio=0 cpu=50ms elapsed=10s tid=0x1 nid=0x2 waiting on condition  [0x3]\n\
   java.lang.Thread.State: TIMED_WAITING (sleeping)\n\
\tat java.lang.Thread.sleep(java.base@17/Native Method)\n\
\tat Idle.main(Idle.java:20)\n\n\
\"worker-1\" #12 daemon prio=5 os_prio=0 tid=0x4 nid=0x5 waiting for monitor entry  [0x6]\n\
   java.lang.Thread.State: BLOCKED (on object monitor)\n\
\tat Idle.work(Idle.java:30)\n\
\t- waiting to lock <0x00000000ffe00000> (a java.lang.Object)\n\n\
\"worker-2\" #13 daemon prio=5 os_prio=0 tid=0x7 nid=0x8 waiting for monitor entry  [0x9]\n\
   java.lang.Thread.State: BLOCKED (on object monitor)\n\
\tat Idle.work(Idle.java:30)\n\
\t- waiting to lock <0x00000000ffe00000> (a java.lang.Object)\n\n\
\"VM Thread\" os_prio=0 cpu=1ms elapsed=10s tid=0xa nid=0xb runnable\n";
        let (threads, dump) = parse_thread_print(text);
        assert_eq!(threads.live, 3, "VM-internal threads are not Java threads");
        assert_eq!(threads.daemon, 2);
        assert_eq!(threads.states["BLOCKED"], 2);
        assert_eq!(threads.states["TIMED_WAITING"], 1);
        assert_eq!(dump.top_stacks[0].threads, 2);
        assert_eq!(dump.top_stacks[0].frames, ["Idle.work"]);
        assert_eq!(dump.blocked.len(), 2);
        assert!(dump.blocked[0].contains("<0x00000000ffe00000> (a java.lang.Object)"));
    }

    #[test]
    fn flags_list_and_actuator_values() {
        assert_eq!(
            parse_max_heap("-XX:CICompilerCount=2 -XX:MaxHeapSize=4173332480 -XX:+UseG1GC"),
            Some(4_173_332_480)
        );
        assert_eq!(
            parse_jcmd_list("12 Idle\n40 jdk.jcmd/sun.tools.jcmd.JCmd -l\n"),
            Some(12)
        );
        assert_eq!(
            parse_jcmd_list("40 jdk.jcmd/sun.tools.jcmd.JCmd -l\n"),
            None
        );
        let metric: Value = serde_json::json!({
            "name": "jvm.gc.pause",
            "measurements": [{"statistic": "COUNT", "value": 12.0}, {"statistic": "TOTAL_TIME", "value": 0.25}],
            "availableTags": [{"tag": "action", "values": ["end of minor GC", "end of major GC"]}]
        });
        assert_eq!(statistic(&metric, "COUNT"), Some(12.0));
        assert_eq!(statistic(&metric, "MAX"), None);
        assert_eq!(
            tag_values(&metric, "action"),
            ["end of minor GC", "end of major GC"]
        );
    }
}
