//! The compose loader (interpolation, merge keys, the model, validation) on arbitrary
//! docker-compose.yml bytes: an error or a project, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker-compose.yml");
    std::fs::write(&path, data).unwrap();
    let environment = [("TAG".to_string(), "1.2".to_string())]
        .into_iter()
        .collect();
    let _ = gymops::compose::load(&[path], None, &environment);
});
