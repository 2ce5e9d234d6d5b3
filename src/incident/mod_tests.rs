//! Tests of `mod.rs`.
use super::*;
use chrono::TimeZone;

fn at(minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 14, minute, second)
        .unwrap()
}

#[test]
fn a_record_that_names_another_incident_is_never_written_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::new(dir.path().join("incidents"), &Default::default());
    let (id, path) = store.claim(at(0, 0).date_naive()).unwrap();
    // A valid record planted under this ID that names another incident's path.
    let mut planted = incident(Severity::Critical);
    planted.id = "INC-2026-1127-009".into();
    std::fs::write(
        path.join(store::RECORD),
        serde_json::to_vec(&planted).unwrap(),
    )
    .unwrap();
    let err = store.load(&id).unwrap_err();
    assert!(
        format!("{err:#}").contains("not INC-2026-1127-001"),
        "{err:#}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(runtime
        .block_on(store.modify(&id, "test", |_| Ok(())))
        .is_err());
    assert!(!dir.path().join("incidents/INC-2026-1127-009").exists());
}

fn incident(severity: Severity) -> Incident {
    Incident::open(Opening {
        id: "INC-2026-1127-001".into(),
        severity,
        summary: "API down".into(),
        impact: None,
        project: "fitness_gym".into(),
        environment: "production".into(),
        host: "h".into(),
        started_at: at(0, 0),
        alerted_at: at(0, 0),
        opened_at: at(0, 0),
        opened_by: "ops".into(),
        response_target_seconds: 300,
    })
}

#[test]
fn ids_are_formatted_and_parsed_and_nothing_else_is_an_id() {
    let date = NaiveDate::from_ymd_opt(2025, 1, 16).unwrap();
    assert_eq!(format_id(date, 1), "INC-2025-0116-001");
    assert_eq!(parse_id("INC-2025-0116-001"), Some((date, 1)));
    assert_eq!(parse_id("INC-2025-0116-1000"), Some((date, 1000)));
    for bad in [
        "INC-2025-0116-01",
        "INC-2025-1332-001",
        "../INC-2025-0116-001",
        "INC-2025-0116-001/..",
        "inc",
    ] {
        assert_eq!(parse_id(bad), None, "{bad}");
    }
}

#[test]
fn the_flow_refuses_monitoring_before_a_fix_and_anything_after_resolution() {
    let mut i = incident(Severity::Error);
    let err = i
        .update(State::Monitoring, "looks ok", "ops", None, at(1, 0))
        .unwrap_err();
    assert!(format!("{err:#}").contains("nothing has been fixed yet"));
    i.update(
        State::Investigating,
        "pool exhausted",
        "ops",
        None,
        at(2, 0),
    )
    .unwrap();
    i.update(State::Fixing, "raising pool size", "ops", None, at(3, 0))
        .unwrap();
    i.update(State::Monitoring, "deployed", "ops", None, at(4, 0))
        .unwrap();
    // A fix that did not hold: back to fixing is fine.
    i.update(State::Fixing, "errors again", "ops", None, at(5, 0))
        .unwrap();
    i.update(State::Monitoring, "second fix", "ops", None, at(6, 0))
        .unwrap();
    i.resolve("pool too small", "pool 20 -> 50", "ops", at(7, 0))
        .unwrap();
    assert_eq!(i.responded_at, Some(at(2, 0)));
    assert_eq!(i.fixed_at, Some(at(4, 0)), "the first fix counts");
    assert_eq!(i.resolved_at, Some(at(7, 0)));
    assert_eq!(i.timeline.len(), 6);
    let err = i
        .update(State::Fixing, "more", "ops", None, at(8, 0))
        .unwrap_err();
    assert!(format!("{err:#}").contains("closed to updates"), "{err:#}");
    let err = i.resolve("x", "y", "ops", at(8, 0)).unwrap_err();
    assert!(format!("{err:#}").contains("closed to updates"), "{err:#}");
}

#[test]
fn a_resolution_by_update_can_get_its_root_cause_later_once() {
    let mut i = incident(Severity::Warning);
    i.update(
        State::Resolved,
        "recovered by itself",
        "ops",
        None,
        at(1, 0),
    )
    .unwrap();
    i.resolve("disk full", "rotated logs", "ops", at(9, 0))
        .unwrap();
    assert_eq!(i.resolved_at, Some(at(1, 0)), "resolution time kept");
    assert_eq!(i.root_cause.as_deref(), Some("disk full"));
    assert!(i.resolve("again", "again", "ops", at(10, 0)).is_err());
}

#[test]
fn response_is_measured_from_the_alert_against_the_target() {
    let mut i = incident(Severity::Error);
    assert_eq!(i.response(at(4, 0)), Response::Waiting);
    assert_eq!(i.response(at(5, 1)), Response::Overdue);
    i.update(State::Investigating, "on it", "ops", None, at(4, 59))
        .unwrap();
    assert_eq!(i.response(at(30, 0)), Response::InTime);
    let mut late = incident(Severity::Error);
    late.update(State::Investigating, "on it", "ops", None, at(6, 0))
        .unwrap();
    assert_eq!(late.response(at(30, 0)), Response::Late);
}

#[test]
fn empty_notes_are_refused_and_action_ids_count_up() {
    let mut i = incident(Severity::Info);
    assert!(i
        .update(State::Investigating, "  ", "ops", None, at(1, 0))
        .is_err());
    assert_eq!(i.state, State::Open, "nothing changed");
    assert_eq!(i.next_action_id(), "A1");
    i.actions.push(Action {
        id: "A1".into(),
        item: "x".into(),
        owner: "@dba".into(),
        priority: Priority::High,
        status: ActionStatus::Todo,
        due: NaiveDate::from_ymd_opt(2026, 12, 1),
        verification: "v".into(),
        created_at: at(0, 0),
        done_at: None,
    });
    assert_eq!(i.next_action_id(), "A2");
    assert!(i.action_mut("a1").is_ok());
    assert!(format!("{:#}", i.action_mut("A9").unwrap_err()).contains("A1"));
    assert!(i.actions[0].overdue(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()));
    assert!(!i.actions[0].overdue(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()));
}
