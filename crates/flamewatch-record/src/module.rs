//! Executable files mapped by the target: opened once, parsed once, shared by every process
//! that maps them.
//!
//! A module is opened while the target still runs (through `/proc/PID/map_files` or
//! `/proc/PID/root`, so deleted or replaced files and containers work) and the open file is
//! kept, so symbols can be read after the target exits. Its unwind sections (`.eh_frame`,
//! `.eh_frame_hdr`, `.debug_frame`, `.text`) are copied out for framehop, and its GNU build id
//! is compared with the one the kernel reported for the mapping.

use object::{Object, ObjectSection, ObjectSegment};
use std::fs::File;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// The bytes of a whole file: memory-mapped where possible, so a large binary costs no
/// copy and only the pages actually read.
pub enum FileBytes {
    /// A read-only mapping.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    Mapped(crate::linux::sys::MappedFile),
    /// Read into memory.
    Owned(Vec<u8>),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

impl FileBytes {
    fn of(file: &File) -> Option<FileBytes> {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        if let Some(map) = crate::linux::sys::MappedFile::map(file) {
            return Some(FileBytes::Mapped(map));
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut &*file, &mut bytes).ok()?;
        Some(FileBytes::Owned(bytes))
    }
}

/// Section bytes as framehop wants them: a view into the shared file bytes, or an owned
/// copy for compressed sections.
#[derive(Clone)]
pub enum Bytes {
    /// `range` of the file.
    View(Arc<FileBytes>, Range<usize>),
    /// Decompressed data.
    Owned(Arc<[u8]>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::View(file, range) => &file[range.clone()],
            Bytes::Owned(data) => data,
        }
    }
}

impl Default for Bytes {
    fn default() -> Self {
        Bytes::Owned(Arc::from(&[][..]))
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.len())
    }
}

/// A parsed executable file.
#[derive(Debug)]
pub struct ModuleFile {
    /// The path the target mapped (as reported by the kernel).
    pub path: String,
    /// The open file, kept so it can be read after the target is gone.
    pub file: Option<File>,
    /// A path that reopens the kept file (`/proc/self/fd/N`), for the symbolizer.
    pub open_path: Option<PathBuf>,
    /// GNU build id found in the file.
    pub build_id: Option<Vec<u8>>,
    /// True when the kernel's build id for the mapping differs from the file's.
    pub build_id_mismatch: bool,
    /// Loadable segments: (file offset range, virtual address).
    pub segments: Vec<(Range<u64>, u64)>,
    /// Unwind information.
    pub sections: Option<UnwindSections>,
}

/// The sections framehop reads, with their addresses as stated in the file.
#[derive(Debug, Clone)]
pub struct UnwindSections {
    /// `.text` address range and bytes.
    pub text: Option<(Range<u64>, Bytes)>,
    /// `.eh_frame`.
    pub eh_frame: Option<(Range<u64>, Bytes)>,
    /// `.eh_frame_hdr`.
    pub eh_frame_hdr: Option<(Range<u64>, Bytes)>,
    /// `.debug_frame`.
    pub debug_frame: Option<Bytes>,
    /// `.got` address range.
    pub got: Option<Range<u64>>,
}

impl ModuleFile {
    /// Opens and parses the file mapped at `path` by process `pid`; `map_range` is the
    /// mapping's address range (for `/proc/PID/map_files`), `kernel_build_id` the build id
    /// from the MMAP2 record.
    pub fn open(
        pid: u32,
        path: &str,
        map_range: Range<u64>,
        kernel_build_id: Option<&[u8]>,
    ) -> ModuleFile {
        let candidates = [
            PathBuf::from(format!(
                "/proc/{pid}/map_files/{:x}-{:x}",
                map_range.start, map_range.end
            )),
            PathBuf::from(format!("/proc/{pid}/root{path}")),
            PathBuf::from(path),
        ];
        let file = candidates.iter().find_map(|p| File::open(p).ok());
        let mut module = ModuleFile {
            path: path.to_string(),
            open_path: None,
            build_id: None,
            build_id_mismatch: false,
            segments: Vec::new(),
            sections: None,
            file: None,
        };
        let Some(file) = file else {
            return module;
        };
        {
            use std::os::fd::AsRawFd;
            module.open_path = Some(PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())));
        }
        if let Some(bytes) = FileBytes::of(&file) {
            module.parse(Arc::new(bytes));
        }
        if let (Some(kernel), Some(ours)) = (kernel_build_id, module.build_id.as_deref()) {
            // The kernel pads short ids; compare the common prefix.
            let n = kernel.len().min(ours.len());
            module.build_id_mismatch = n > 0 && kernel[..n] != ours[..n];
        }
        module.file = Some(file);
        module
    }

    /// The vDSO: it has no file, but the kernel maps the same image into every process, so
    /// our own copy is read from `/proc/self/mem` and kept in an unlinked temporary file.
    pub fn vdso() -> ModuleFile {
        let mut module = ModuleFile {
            path: "[vdso]".to_string(),
            file: None,
            open_path: None,
            build_id: None,
            build_id_mismatch: false,
            segments: Vec::new(),
            sections: None,
        };
        let Some(bytes) = read_own_vdso() else {
            return module;
        };
        let bytes = Arc::new(FileBytes::Owned(bytes));
        module.parse(bytes.clone());
        let path = std::env::temp_dir().join(format!("flamewatch-vdso-{}.so", std::process::id()));
        if std::fs::write(&path, &**bytes).is_ok()
            && let Ok(file) = File::open(&path)
        {
            let _ = std::fs::remove_file(&path);
            use std::os::fd::AsRawFd;
            module.open_path = Some(PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())));
            module.file = Some(file);
        }
        module
    }

    /// Parses ELF bytes: build id, segments, unwind sections (views into `file`).
    pub fn parse(&mut self, file: Arc<FileBytes>) {
        let bytes: &[u8] = &file;
        let Ok(obj) = object::File::parse(bytes) else {
            return;
        };
        self.build_id = obj.build_id().ok().flatten().map(<[u8]>::to_vec);
        self.segments = obj
            .segments()
            .map(|s| {
                let (off, size) = s.file_range();
                (off..off + size, s.address())
            })
            .collect();
        let section = |name: &str| {
            let s = obj.section_by_name(name)?;
            let data = s.uncompressed_data().ok()?;
            let range = s.address()..s.address() + s.size();
            let bytes = match data {
                std::borrow::Cow::Borrowed(slice) => {
                    // The slice points into `file`: keep a view instead of a copy.
                    let start = slice.as_ptr() as usize - bytes.as_ptr() as usize;
                    Bytes::View(file.clone(), start..start + slice.len())
                }
                std::borrow::Cow::Owned(owned) => Bytes::Owned(owned.into()),
            };
            Some((range, bytes))
        };
        self.sections = Some(UnwindSections {
            text: section(".text"),
            eh_frame: section(".eh_frame"),
            eh_frame_hdr: section(".eh_frame_hdr"),
            debug_frame: section(".debug_frame").map(|(_, d)| d),
            got: obj
                .section_by_name(".got")
                .map(|s| s.address()..s.address() + s.size()),
        });
    }

    /// The address where stated address 0 lands for a mapping of `[start, ..)` at file
    /// offset `pgoff`, or `None` if no loadable segment covers that offset.
    pub fn base_avma(&self, start: u64, pgoff: u64, len: u64) -> Option<u64> {
        // The segment that overlaps the mapping most: with lld's layout a read-only segment
        // shares the first page of the executable mapping, and picking it would shift every
        // address by the difference of the two segments' offsets.
        let overlap = |r: &Range<u64>| r.end.min(pgoff + len).saturating_sub(r.start.max(pgoff));
        let (range, vaddr) = self
            .segments
            .iter()
            .filter(|(r, _)| overlap(r) > 0)
            .max_by_key(|(r, _)| overlap(r))?;
        // svma(start) = pgoff - p_offset + p_vaddr
        let svma = pgoff.wrapping_sub(range.start).wrapping_add(*vaddr);
        Some(start.wrapping_sub(svma))
    }
}

fn read_own_vdso() -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let line = maps.lines().find(|l| l.ends_with("[vdso]"))?;
    let (a, rest) = line.split_once('-')?;
    let b = rest.split_whitespace().next()?;
    let (a, b) = (
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    );
    let mut mem = File::open("/proc/self/mem").ok()?;
    mem.seek(SeekFrom::Start(a)).ok()?;
    let mut bytes = vec![0u8; usize::try_from(b.checked_sub(a)?).ok()?];
    mem.read_exact(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_address_follows_the_segment_not_the_first_mapping() {
        let module = ModuleFile {
            path: "/x".into(),
            file: None,
            open_path: None,
            build_id: None,
            build_id_mismatch: false,
            // An lld-style layout: a read-only segment shares the first page of the code
            // mapping; code at file offset 0x1100 is loaded at vaddr 0x2100.
            segments: vec![(0..0x1100, 0), (0x1100..0x5000, 0x2100)],
            sections: None,
        };
        let base = module.base_avma(0x7f00_0000_1000, 0x1000, 0x4000).unwrap();
        assert_eq!(base, 0x7f00_0000_1000 - 0x2000);
    }

    #[test]
    fn the_vdso_is_read_from_our_own_process() {
        let vdso = ModuleFile::vdso();
        assert!(vdso.open_path.is_some());
        let sections = vdso.sections.expect("vdso is an ELF image");
        assert!(sections.eh_frame.is_some());
    }
}
