//! Symbolization after recording: every unique address once, per module in one batch.
//!
//! User addresses are resolved with blazesym from the module files kept open during recording
//! (file offsets, so blazesym does the ELF program-header translation; DWARF with inline frames
//! and demangling when present, the symbol table otherwise). Kernel addresses come from
//! `/proc/kallsyms` (read while the target runs); anonymous executable memory from the JIT's
//! `/tmp/perf-PID.map`.

use crate::process::RawFrame;
use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use flamewatch_profile::Frame;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Options for symbolization.
#[derive(Debug, Clone, Copy, Default)]
pub struct SymbolOptions {
    /// Names only: skip DWARF line and inline information (fast on huge binaries).
    pub names_only: bool,
}

/// Resolved frames for every raw frame (an inlined call expands to several frames, leaf first).
pub struct Symbols {
    map: HashMap<RawFrame, Vec<Frame>>,
    /// Raw frames that got no name.
    pub unsymbolized: u64,
    /// Raw frames resolved.
    pub total: u64,
}

impl Symbols {
    /// The frames for a raw frame (leaf first).
    pub fn frames(&self, raw: &RawFrame) -> &[Frame] {
        self.map.get(raw).map_or(&[], Vec::as_slice)
    }
}

/// The file name of a module path, as frames show it.
pub fn module_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

fn unknown(module: Option<String>, address: u64) -> Frame {
    let name = match &module {
        Some(m) => format!("{m}+0x{address:x}"),
        None => format!("0x{address:x}"),
    };
    Frame {
        function: name,
        file: None,
        line: None,
        module,
        address,
        inlined: false,
    }
}

fn frames_from_sym(sym: &blazesym::symbolize::Sym<'_>, module: &str, address: u64) -> Vec<Frame> {
    // blazesym lists inlined calls outermost first and gives each frame its own location
    // (the outer function's is the first inlined call site). We return leaf first.
    let location = |ci: Option<&blazesym::symbolize::CodeInfo<'_>>| {
        ci.map(|c| (c.to_path().to_string_lossy().into_owned(), c.line))
            .unzip()
    };
    let mut out = Vec::with_capacity(sym.inlined.len() + 1);
    for inl in sym.inlined.iter().rev() {
        let (file, line) = location(inl.code_info.as_ref());
        out.push(Frame {
            function: inl.name.to_string(),
            file,
            line: line.flatten(),
            module: Some(module.to_string()),
            address,
            inlined: true,
        });
    }
    let (file, line) = location(sym.code_info.as_deref());
    out.push(Frame {
        function: sym.name.to_string(),
        file,
        line: line.flatten(),
        module: Some(module.to_string()),
        address,
        inlined: false,
    });
    out
}

/// Kernel text symbols from `/proc/kallsyms`, sorted by address.
///
/// The kernel generates the file slowly (tens of milliseconds), so the recorder loads it on a
/// background thread while the target runs.
#[derive(Debug, Default)]
pub struct KernelSymbols {
    symbols: Vec<(u64, Box<str>)>,
}

impl KernelSymbols {
    /// Reads `/proc/kallsyms`; empty when unreadable or when addresses are hidden
    /// (`kernel.kptr_restrict`).
    pub fn load() -> KernelSymbols {
        std::fs::read_to_string("/proc/kallsyms")
            .map(|text| KernelSymbols::parse(&text))
            .unwrap_or_default()
    }

    /// Parses kallsyms text: `ADDRESS TYPE NAME [MODULE]`, text symbols only.
    pub fn parse(text: &str) -> KernelSymbols {
        let mut symbols: Vec<(u64, Box<str>)> = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_ascii_whitespace();
                let addr = u64::from_str_radix(parts.next()?, 16).ok()?;
                let kind = parts.next()?;
                let name = parts.next()?;
                (addr != 0 && matches!(kind, "t" | "T" | "w" | "W")).then(|| (addr, name.into()))
            })
            .collect();
        symbols.sort_unstable_by_key(|(a, _)| *a);
        KernelSymbols { symbols }
    }

    /// The function containing `address` (the last symbol at or below it).
    pub fn lookup(&self, address: u64) -> Option<&str> {
        let i = self.symbols.partition_point(|(a, _)| *a <= address);
        i.checked_sub(1).map(|i| &*self.symbols[i].1)
    }
}

/// Reads `/tmp/perf-PID.map` (or the one inside the process's root): `START SIZE name` lines.
pub fn read_perf_map(pid: u32) -> Vec<(u64, u64, String)> {
    let candidates = [
        format!("/proc/{pid}/root/tmp/perf-{pid}.map"),
        format!("/tmp/perf-{pid}.map"),
    ];
    let Some(text) = candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
    else {
        return Vec::new();
    };
    parse_perf_map(&text)
}

/// Parses perf map text; later lines win when ranges overlap (code may be reused).
pub fn parse_perf_map(text: &str) -> Vec<(u64, u64, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let start = u64::from_str_radix(parts.next()?.trim_start_matches("0x"), 16).ok()?;
            let size = u64::from_str_radix(parts.next()?.trim_start_matches("0x"), 16).ok()?;
            let name = parts.next()?.trim().to_string();
            Some((start, size, name))
        })
        .collect()
}

/// Symbolizes every raw frame.
pub fn symbolize(
    raw: &BTreeSet<RawFrame>,
    modules: &[crate::module::ModuleFile],
    kernel_symbols: Option<&KernelSymbols>,
    options: SymbolOptions,
) -> Symbols {
    let symbolizer = Symbolizer::builder()
        .enable_code_info(!options.names_only)
        .enable_inlined_fns(!options.names_only)
        .enable_demangling(true)
        .build();
    let mut map: HashMap<RawFrame, Vec<Frame>> = HashMap::new();
    let mut by_module: HashMap<usize, Vec<(RawFrame, u64, u64)>> = HashMap::new();
    let mut kernel = Vec::new();
    let mut anonymous: HashMap<u32, Vec<(RawFrame, u64)>> = HashMap::new();
    for r in raw {
        match *r {
            RawFrame::Kernel(a) => kernel.push((*r, a)),
            RawFrame::User {
                module,
                offset,
                address,
            } => by_module
                .entry(module)
                .or_default()
                .push((*r, offset, address)),
            RawFrame::Anonymous { pid, address } => {
                anonymous.entry(pid).or_default().push((*r, address))
            }
        }
    }
    for (index, entries) in by_module {
        let module = &modules[index];
        let name = module_name(&module.path);
        let resolved: Option<Vec<Symbolized<'_>>> =
            match (&module.open_path, module.build_id_mismatch) {
                (Some(path), false) => {
                    let mut elf = Elf::new(path);
                    elf.debug_syms = !options.names_only;
                    let src = Source::Elf(elf);
                    let offsets: Vec<u64> = entries.iter().map(|(_, o, _)| *o).collect();
                    symbolizer.symbolize(&src, Input::FileOffset(&offsets)).ok()
                }
                _ => None,
            };
        for (i, (r, offset, address)) in entries.iter().enumerate() {
            let frames = match resolved.as_ref().and_then(|v| v.get(i)) {
                Some(Symbolized::Sym(sym)) => frames_from_sym(sym, &name, *address),
                // No symbol: name the file offset, which is stable across runs (ASLR).
                _ => vec![Frame {
                    function: format!("{name}+0x{offset:x}"),
                    ..unknown(Some(name.clone()), *address)
                }],
            };
            map.insert(*r, frames);
        }
    }
    if !kernel.is_empty() {
        let loaded;
        let table = match kernel_symbols {
            Some(table) => table,
            None => {
                loaded = KernelSymbols::load();
                &loaded
            }
        };
        for (r, a) in kernel {
            let frame = match table.lookup(a) {
                Some(name) => Frame {
                    function: name.to_string(),
                    file: None,
                    line: None,
                    module: Some("[kernel]".to_string()),
                    address: a,
                    inlined: false,
                },
                None => unknown(Some("[kernel]".to_string()), a),
            };
            map.insert(r, vec![frame]);
        }
    }
    for (pid, entries) in anonymous {
        let perf_map = read_perf_map(pid);
        for (r, a) in entries {
            let hit = perf_map
                .iter()
                .rev()
                .find(|(start, size, _)| a >= *start && a < start + size);
            let frame = match hit {
                Some((_, _, name)) => Frame {
                    function: name.clone(),
                    file: None,
                    line: None,
                    module: Some(format!("perf-{pid}.map")),
                    address: a,
                    inlined: false,
                },
                None => unknown(None, a),
            };
            map.insert(r, vec![frame]);
        }
    }
    let total = map.len() as u64;
    let unsymbolized = map
        .values()
        .filter(|f| f.first().is_some_and(|f| f.function.contains("0x")))
        .count() as u64;
    Symbols {
        map,
        unsymbolized,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_addresses_resolve_to_the_enclosing_text_symbol() {
        let table = KernelSymbols::parse(
            "ffffffff81000000 T _stext\n\
             ffffffff81000100 t do_nanosleep\n\
             ffffffff81000200 D some_data\n\
             ffffffff81000300 T futex_wait [kvm]\n\
             0000000000000000 T hidden\n",
        );
        assert_eq!(table.lookup(0xffffffff81000150), Some("do_nanosleep"));
        assert_eq!(table.lookup(0xffffffff81000250), Some("do_nanosleep"));
        assert_eq!(table.lookup(0xffffffff81000300), Some("futex_wait"));
        assert_eq!(table.lookup(0xffffffff80000000), None);
    }

    #[test]
    fn perf_map_lines_are_parsed() {
        let m = parse_perf_map("7f00 20 LazyCompile:foo bar.js:1\n0x7f40 0x10 py::main\nbad\n");
        assert_eq!(
            m,
            vec![
                (0x7f00, 0x20, "LazyCompile:foo bar.js:1".to_string()),
                (0x7f40, 0x10, "py::main".to_string())
            ]
        );
    }
}
