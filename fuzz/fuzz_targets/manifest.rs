//! The backup manifest reader, the signature check and the restore-stream guard on
//! arbitrary bytes (what an attacker who can write the backup directory controls).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = gymops::backup::manifest::parse(data) {
        let _ = gymops::backup::signing::check(&manifest, &[]);
    }
    let mut guard = gymops::backup::inspect::MetaGuard::default();
    let mut out = Vec::new();
    let _ = guard.push(data, &mut out);
    let _ = guard.finish(&mut out);
    let mut inspector = gymops::backup::inspect::Inspector::default();
    inspector.feed(data);
    inspector.finish();
});
