//! Builds the C test programs under `tests/data/programs/` with the system `cc`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

static BUILD: Mutex<()> = Mutex::new(());

/// Compiles `tests/data/programs/NAME.c` (optimized, with debug info and without frame
/// pointers, so unwinding must use DWARF CFI) and returns the binary's path.
pub fn build(name: &str) -> PathBuf {
    build_c(name, false)
}

/// Like [`build`], with frame pointers (`NAME-fp`).
pub fn build_with_frame_pointers(name: &str) -> PathBuf {
    build_c(name, true)
}

fn build_c(name: &str, frame_pointers: bool) -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/programs")
        .join(format!("{name}.c"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("record-programs");
    std::fs::create_dir_all(&dir).expect("create program dir");
    let out = dir.join(if frame_pointers {
        format!("{name}-fp")
    } else {
        name.to_string()
    });
    if !is_fresh(&out, &src) {
        let status = Command::new("cc")
            .args(["-O2", "-g", "-pthread"])
            .arg(if frame_pointers {
                "-fno-omit-frame-pointer"
            } else {
                "-fomit-frame-pointer"
            })
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .status()
            .expect("run cc");
        assert!(status.success(), "cc failed for {name}");
    }
    out
}

/// Compiles `tests/data/programs/NAME.rs` as an optimized Rust binary without frame pointers.
pub fn build_rust(name: &str) -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/programs")
        .join(format!("{name}.rs"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("record-programs");
    std::fs::create_dir_all(&dir).expect("create program dir");
    let out = dir.join(name);
    if is_fresh(&out, &src) {
        return out;
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let status = Command::new(rustc)
        .args([
            "--edition=2021",
            "-C",
            "opt-level=3",
            "-C",
            "debuginfo=line-tables-only",
            "-C",
            "force-frame-pointers=no",
            "-o",
        ])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run rustc");
    assert!(status.success(), "rustc failed for {name}");
    out
}

/// True when `out` exists and is newer than `src`.
fn is_fresh(out: &Path, src: &Path) -> bool {
    out.metadata()
        .and_then(|m| m.modified())
        .ok()
        .zip(src.metadata().and_then(|m| m.modified()).ok())
        .is_some_and(|(bin, source)| bin >= source)
}
