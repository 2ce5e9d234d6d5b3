//! The settings loader on arbitrary gymops.yaml bytes: an error or settings, never a panic
//! or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gymops.yaml");
    std::fs::write(&path, data).unwrap();
    let overrides = gymops::settings::Overrides {
        config: Some(path),
        ..Default::default()
    };
    let _ = gymops::settings::load(&overrides, &Default::default(), dir.path());
});
