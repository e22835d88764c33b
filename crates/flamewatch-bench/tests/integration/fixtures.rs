//! Small C programs compiled with `cc` into a temporary directory, and a lock that keeps
//! measured runs from overlapping (a forked child inherits the harness's resident memory, so
//! a test holding a large buffer must not run while another test spawns).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Serialises tests that spawn measured children.
pub fn spawn_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("fw-bench-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Burns CPU: `burn N` runs N million iterations of a dependent arithmetic chain.
const BURN: &str = r#"
#include <stdlib.h>
#include <stdio.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]) * 1000000L;
    volatile unsigned long acc = 1;
    for (long i = 0; i < n; i++) acc = acc * 6364136223846793005UL + 1442695040888963407UL;
    return acc == 42 ? 1 : 0;
}
"#;

/// Allocates and touches `alloc MiB` mebibytes.
const ALLOC: &str = r#"
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    size_t mib = (size_t)atol(argv[1]);
    size_t n = mib * 1024 * 1024;
    char *p = malloc(n);
    if (!p) return 2;
    for (size_t i = 0; i < n; i += 4096) p[i] = (char)i;
    volatile char sink = p[n - 1];
    (void)sink;
    free(p);
    return 0;
}
"#;

/// Writes `writer PATH N` bytes to PATH in 64 KiB chunks.
const WRITER: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[2]);
    static char buf[65536];
    memset(buf, 'x', sizeof buf);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 2;
    while (n > 0) {
        long k = n < (long)sizeof buf ? n : (long)sizeof buf;
        ssize_t w = write(fd, buf, (size_t)k);
        if (w <= 0) return 3;
        n -= w;
    }
    close(fd);
    return 0;
}
"#;

/// Paths of the compiled programs.
pub struct Programs {
    _dir: TempDir,
    pub burn: String,
    pub alloc: String,
    pub writer: String,
}

/// Compiles the programs once per test binary.
pub fn programs() -> &'static Programs {
    static P: OnceLock<Programs> = OnceLock::new();
    P.get_or_init(|| {
        let dir = TempDir::new("progs");
        let build = |name: &str, src: &str| {
            let c = dir.path().join(format!("{name}.c"));
            let exe = dir.path().join(name);
            std::fs::write(&c, src).unwrap();
            let st = Command::new("cc")
                .arg("-O2")
                .arg("-o")
                .arg(&exe)
                .arg(&c)
                .status()
                .expect("cc not found: install a C compiler (scripts/setup.sh installs gcc)");
            assert!(st.success(), "compiling {name}.c failed");
            exe.to_string_lossy().into_owned()
        };
        Programs {
            burn: build("burn", BURN),
            alloc: build("alloc", ALLOC),
            writer: build("writer", WRITER),
            _dir: dir,
        }
    })
}

/// Iterations (millions) for a ~40–80 ms burn on this kind of machine.
pub const BURN_M: u64 = 60;
