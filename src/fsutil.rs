//! File helpers: atomic writes for files that matter.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::error::HintExt;

/// Open flags that refuse to follow a symlink at the last path component (none on
/// Windows, where opening a file does not follow a symbolic link the way Unix does without
/// the process's privilege to make one).
pub fn no_follow() -> i32 {
    #[cfg(unix)]
    {
        rustix::fs::OFlags::NOFOLLOW.bits() as i32
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Unix file modes and open flags where the OS has them, as the standard library's Unix
/// extensions spell them; on Windows (ACLs decide who reads a file) they set nothing, so
/// callers are written once for both.
pub trait OpenOptionsExt {
    fn mode(&mut self, mode: u32) -> &mut Self;
    fn custom_flags(&mut self, flags: i32) -> &mut Self;
}

impl OpenOptionsExt for OpenOptions {
    fn mode(&mut self, mode: u32) -> &mut Self {
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(self, mode);
        let _ = mode;
        self
    }

    fn custom_flags(&mut self, flags: i32) -> &mut Self {
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, flags);
        let _ = flags;
        self
    }
}

/// A directory's Unix mode where the OS has one (see [`OpenOptionsExt`]).
pub trait DirBuilderExt {
    fn mode(&mut self, mode: u32) -> &mut Self;
}

impl DirBuilderExt for fs::DirBuilder {
    fn mode(&mut self, mode: u32) -> &mut Self {
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(self, mode);
        let _ = mode;
        self
    }
}

/// A temporary name nobody can guess (so nobody can plant a link there first).
fn random_suffix() -> String {
    crate::random::hex_string::<8>().unwrap_or_else(|_| {
        // Still unique per process and moment; create_new refuses anything planted.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{}-{nanos:x}", std::process::id())
    })
}

/// Write `bytes` to `path` atomically: a temporary file in the same directory (a random
/// name, created exclusively, never through a symlink, with `mode` set on the open file),
/// fsynced, renamed over the target, then the directory fsynced. A reader sees the old file
/// or the whole new one, never a half-written one. A symlink at `path` is replaced, never
/// followed; a directory there is an error.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        anyhow::bail!("{} is a directory", path.display());
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::env::current_dir().context("cannot read the current directory")?,
    };
    let file_name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?
        .to_string_lossy()
        .into_owned();
    let temp = dir.join(format!(".{file_name}.tmp-{}", random_suffix()));
    let result = (|| -> Result<()> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        options
            .mode(mode.unwrap_or(0o644))
            .custom_flags(no_follow());
        let mut file = options
            .open(&temp)
            .with_context(|| format!("cannot create {}", temp.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(mode.unwrap_or(0o644)))
                .with_context(|| format!("cannot set the mode of {}", temp.display()))?;
        }
        file.write_all(bytes)
            .with_context(|| format!("cannot write {}", temp.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot flush {}", temp.display()))?;
        fs::rename(&temp, path)
            .with_context(|| format!("cannot rename {} to {}", temp.display(), path.display()))?;
        if let Ok(dir_handle) = File::open(&dir) {
            let _ = dir_handle.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Read a settings or compose file: a regular file (a FIFO, a device or a directory is an
/// error at once, never a hang), at most `cap` bytes, UTF-8, a leading byte-order mark
/// dropped (editors on Windows write one).
pub fn read_text_file(path: &Path, what: &str, cap: u64) -> Result<String> {
    let bytes = read_regular_file(path, what, cap)?;
    let text = String::from_utf8(bytes).map_err(|err| {
        anyhow::anyhow!(
            "{what} {}: not UTF-8 text (byte {})",
            path.display(),
            err.utf8_error().valid_up_to()
        )
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Read a regular file of at most `cap` bytes (a FIFO, a device or a directory is an error
/// at once, never a hang).
pub fn read_regular_file(path: &Path, what: &str, cap: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut options = OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading waits for a writer; non-blocking, it does not.
    #[cfg(unix)]
    options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    let file = options
        .open(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if !metadata.is_file() {
        anyhow::bail!("{what} {} is not a regular file", path.display());
    }
    if metadata.len() > cap {
        return Err(anyhow::anyhow!(
            "{what} {} is {} bytes, more than the {} KiB such a file can be",
            path.display(),
            metadata.len(),
            cap / 1024
        ))
        .hint("point at the right file");
    }
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if bytes.len() as u64 > cap {
        anyhow::bail!(
            "{what} {} grew past {} KiB while read",
            path.display(),
            cap / 1024
        );
    }
    Ok(bytes)
}

/// The owner of `path` as `UID:GID` (what a container runs as to read and write what
/// gymops does); None where the OS has no such owner or the path is missing.
pub fn owner_of(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let metadata = fs::metadata(path).ok()?;
        Some(format!("{}:{}", metadata.uid(), metadata.gid()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Write a file the operator named (`--output-file`, `--report`): atomically like
/// [`write_atomic`], but through a symlink to its target (the link stays a link), refusing
/// a target that exists and is not a regular file (a FIFO, a device, a directory), and
/// creating missing parent directories.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut target = path.to_path_buf();
    // Follow a chain of links to the file they name (bounded, like the kernel).
    for _ in 0..40 {
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&target)
                    .with_context(|| format!("cannot read the link {}", target.display()))?;
                target = match target.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => break,
        }
    }
    match fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => {
            return Err(anyhow::anyhow!(
                "{} exists and is not a regular file",
                target.display()
            ))
            .hint("name a regular file (or a new one) for the output");
        }
        _ => {}
    }
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the directory {}", parent.display()))?;
    }
    write_atomic(&target, bytes, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn writes_replace_the_file_whole_and_leave_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write_atomic(&path, b"first", None).unwrap();
        write_atomic(&path, b"second", Some(0o600)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn planted_links_are_replaced_not_followed_and_modes_are_exact() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep me").unwrap();
        let path = dir.path().join("manifest.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomic(&path, b"new", Some(0o600)).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(!fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn output_files_go_through_links_and_refuse_what_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("reports/daily.md");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        fs::write(&real, "old").unwrap();
        let link = dir.path().join("latest.md");
        std::os::unix::fs::symlink("reports/daily.md", &link).unwrap();
        write_output(&link, b"new").unwrap();
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        // Missing parents are made.
        write_output(&dir.path().join("a/b/c.json"), b"{}").unwrap();
        // A directory and a FIFO are refused, untouched.
        assert!(write_output(dir.path(), b"x").is_err());
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = write_output(&fifo, b"x").unwrap_err();
        assert!(
            crate::error::describe(&err)
                .0
                .contains("not a regular file"),
            "{err:#}"
        );
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(write_output(Path::new("/dev/null"), b"x").is_err());
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("report.json");
        assert!(write_atomic(&path, b"x", None).is_err());
        assert!(!path.exists());
    }
}
