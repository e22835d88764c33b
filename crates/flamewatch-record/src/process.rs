//! Turns decoded records into aggregated stacks: address spaces, unwinding, off-CPU intervals.
//!
//! Records must arrive in time order (the reader merges ring buffers by timestamp). MMAP2,
//! COMM, FORK and EXIT records keep a per-process list of executable mappings and thread names;
//! each sample's user stack is unwound right away with framehop (DWARF CFI with frame-pointer
//! fallback) over the copied stack bytes, spliced with the kernel's frame-pointer chain when
//! DWARF stops early, and tagged complete or truncated. Context-switch samples open an off-CPU
//! interval for their thread that the next switch-in closes; the interval is weighted in
//! nanoseconds. Nothing here makes a system call except opening mapped files.

use crate::decode::{Mmap, Record, Sample, split_callchain};
use crate::module::{Bytes, ModuleFile};
use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, Module, Unwinder};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One frame before symbolization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RawFrame {
    /// A kernel address.
    Kernel(u64),
    /// A user address inside a mapped file: module index and file offset, plus the address.
    User {
        /// Index into [`Processor::modules`].
        module: usize,
        /// File offset of the (lookup) address.
        offset: u64,
        /// The (lookup) address in the process.
        address: u64,
    },
    /// A user address outside every known file mapping (JIT code, vDSO, or garbage).
    Anonymous {
        /// Process id (for its perf map).
        pid: u32,
        /// The (lookup) address.
        address: u64,
    },
}

/// What a stack's weight measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// On-CPU time (cpu-clock samples).
    Cpu,
    /// Off-CPU time; `preempted` when switched out while still runnable.
    OffCpu {
        /// Switched out while runnable.
        preempted: bool,
    },
}

/// Aggregation key of a stack.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackKey {
    /// Thread name at sample time.
    pub thread: String,
    /// Frames, leaf first (kernel frames before user frames).
    pub frames: Vec<RawFrame>,
    /// CPU or off-CPU.
    pub kind: Kind,
    /// True when unwinding did not reach the stack's root.
    pub truncated: bool,
}

/// Aggregated weight of one stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Weight {
    /// Number of samples or intervals.
    pub count: u64,
    /// Nanoseconds.
    pub nanos: u64,
}

/// Counters for the quality line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// CPU samples.
    pub cpu_samples: u64,
    /// Context-switch samples.
    pub switch_samples: u64,
    /// Off-CPU intervals closed by a switch-in.
    pub off_cpu_intervals: u64,
    /// Records the kernel lost (ring buffer full).
    pub lost: u64,
    /// Throttle records.
    pub throttled: u64,
    /// Samples whose user stack unwound to its root.
    pub complete: u64,
    /// Samples whose user stack stopped early.
    pub truncated: u64,
    /// Samples where the frame-pointer chain extended a DWARF unwind.
    pub spliced: u64,
    /// Records that failed to decode.
    pub malformed: u64,
}

struct Mapping {
    end: u64,
    pgoff: u64,
    module: Option<usize>,
}

struct ProcessState {
    mappings: BTreeMap<u64, Mapping>,
    unwinder: UnwinderX86_64<Bytes>,
}

impl ProcessState {
    fn new() -> Self {
        ProcessState {
            mappings: BTreeMap::new(),
            unwinder: UnwinderX86_64::new(),
        }
    }

    fn lookup(&self, address: u64) -> Option<(u64, &Mapping)> {
        let (start, mapping) = self.mappings.range(..=address).next_back()?;
        (address < mapping.end).then_some((*start, mapping))
    }
}

struct Pending {
    time: u64,
    thread: String,
    frames: Vec<RawFrame>,
    truncated: bool,
    preempted: bool,
}

/// The record consumer.
pub struct Processor {
    /// Event ids of the cpu-clock events.
    pub cpu_ids: HashSet<u64>,
    /// Event ids of the context-switch events.
    pub switch_ids: HashSet<u64>,
    /// Every module seen.
    pub modules: Vec<ModuleFile>,
    module_index: HashMap<(String, Option<Vec<u8>>), usize>,
    processes: HashMap<u32, ProcessState>,
    threads: HashMap<u32, String>,
    pending: HashMap<u32, Pending>,
    cache: CacheX86_64,
    /// Aggregated stacks.
    pub stacks: HashMap<StackKey, Weight>,
    /// Counters.
    pub counters: Counters,
    /// Pids seen (for perf maps).
    pub pids: HashSet<u32>,
    /// Earliest and latest timestamps seen.
    pub time_range: Option<(u64, u64)>,
}

impl Default for Processor {
    fn default() -> Self {
        Self::new()
    }
}

impl Processor {
    /// An empty processor.
    pub fn new() -> Self {
        Processor {
            cpu_ids: HashSet::new(),
            switch_ids: HashSet::new(),
            modules: Vec::new(),
            module_index: HashMap::new(),
            processes: HashMap::new(),
            threads: HashMap::new(),
            pending: HashMap::new(),
            cache: CacheX86_64::new(),
            stacks: HashMap::new(),
            counters: Counters::default(),
            pids: HashSet::new(),
            time_range: None,
        }
    }

    /// Seeds a process's mappings and thread names from `/proc` (attach mode).
    pub fn seed_from_proc(&mut self, pid: u32) {
        if let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) {
            for mmap in parse_proc_maps(pid, &maps) {
                self.add_mapping(&mmap);
            }
        }
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let Some(tid) = task
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
                    self.threads.insert(tid, comm.trim_end().to_string());
                }
            }
        }
    }

    fn touch_time(&mut self, time: u64) {
        if time == 0 {
            return;
        }
        self.time_range = Some(match self.time_range {
            None => (time, time),
            Some((a, b)) => (a.min(time), b.max(time)),
        });
    }

    /// Handles one decoded record.
    pub fn handle(&mut self, record: Record<'_>) {
        match record {
            Record::Sample(sample) => self.sample(&sample),
            Record::Mmap(mmap) => self.add_mapping(&mmap),
            Record::Comm {
                pid,
                tid,
                name,
                exec,
                ..
            } => {
                if exec && pid == tid {
                    // exec replaced the address space.
                    self.processes.remove(&pid);
                }
                self.threads.insert(tid, name);
            }
            Record::Fork { pid, ppid, tid, .. } => {
                if pid != ppid && pid == tid {
                    // A new process: it starts with a copy of its parent's mappings.
                    let copied: Vec<Mmap> = self
                        .processes
                        .get(&ppid)
                        .map(|p| {
                            p.mappings
                                .iter()
                                .filter_map(|(start, m)| {
                                    let module = m.module?;
                                    Some(Mmap {
                                        pid,
                                        tid,
                                        addr: *start,
                                        len: m.end - start,
                                        pgoff: m.pgoff,
                                        build_id: None,
                                        prot: 5,
                                        filename: self.modules[module].path.clone(),
                                        time: 0,
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    for m in copied {
                        self.add_mapping(&m);
                    }
                }
                if let Some(name) = self.threads.get(&ppid).cloned() {
                    self.threads.entry(tid).or_insert(name);
                }
            }
            Record::Exit { tid, .. } => {
                self.pending.remove(&tid);
            }
            Record::Lost { count, .. } | Record::LostSamples { count } => {
                self.counters.lost += count;
            }
            Record::Throttle { throttled, .. } => {
                if throttled {
                    self.counters.throttled += 1;
                }
            }
            Record::Switch {
                tid,
                time,
                out,
                preempt,
                ..
            } => {
                if out {
                    if let Some(p) = self.pending.get_mut(&tid) {
                        p.preempted |= preempt;
                    }
                } else if let Some(p) = self.pending.remove(&tid)
                    && time > p.time
                {
                    self.counters.off_cpu_intervals += 1;
                    let key = StackKey {
                        thread: p.thread,
                        frames: p.frames,
                        kind: Kind::OffCpu {
                            preempted: p.preempted,
                        },
                        truncated: p.truncated,
                    };
                    let w = self.stacks.entry(key).or_default();
                    w.count += 1;
                    w.nanos += time - p.time;
                }
                self.touch_time(time);
            }
            Record::Other { .. } => {}
        }
    }

    /// Ends the recording at `end` (the event clock): threads still switched out are charged
    /// up to it (in attach mode a thread can stay blocked past the end of the window).
    pub fn finish(&mut self, end: u64) {
        let tids: Vec<u32> = self.pending.keys().copied().collect();
        for tid in tids {
            self.handle(Record::Switch {
                pid: 0,
                tid,
                time: end,
                out: false,
                preempt: false,
            });
        }
    }

    fn module_for(&mut self, mmap: &Mmap) -> Option<usize> {
        if mmap.filename == "[vdso]" {
            let key = (mmap.filename.clone(), None);
            if let Some(&i) = self.module_index.get(&key) {
                return Some(i);
            }
            self.modules.push(ModuleFile::vdso());
            let i = self.modules.len() - 1;
            self.module_index.insert(key, i);
            return Some(i);
        }
        // Anonymous executable memory (`//anon`, JIT code) has no file: its frames are
        // named from the perf map at symbolization time.
        if !mmap.filename.starts_with('/') || mmap.filename.starts_with("//") {
            return None;
        }
        let key = (mmap.filename.clone(), mmap.build_id.clone());
        if let Some(&i) = self.module_index.get(&key) {
            return Some(i);
        }
        let module = ModuleFile::open(
            mmap.pid,
            &mmap.filename,
            mmap.addr..mmap.addr + mmap.len,
            mmap.build_id.as_deref(),
        );
        self.modules.push(module);
        let i = self.modules.len() - 1;
        self.module_index.insert(key, i);
        Some(i)
    }

    fn add_mapping(&mut self, mmap: &Mmap) {
        if !mmap.is_exec() {
            return;
        }
        self.pids.insert(mmap.pid);
        let module = self.module_for(mmap);
        let state = self
            .processes
            .entry(mmap.pid)
            .or_insert_with(ProcessState::new);
        // Drop mappings the new one overlaps.
        let end = mmap.addr + mmap.len;
        let overlapping: Vec<u64> = state
            .mappings
            .range(..end)
            .filter(|(s, m)| m.end > mmap.addr && **s < end)
            .map(|(s, _)| *s)
            .collect();
        for s in overlapping {
            state.mappings.remove(&s);
            state.unwinder.remove_module(s);
        }
        state.mappings.insert(
            mmap.addr,
            Mapping {
                end,
                pgoff: mmap.pgoff,
                module,
            },
        );
        let Some(index) = module else { return };
        let file = &self.modules[index];
        let (Some(sections), Some(base)) = (
            file.sections.as_ref(),
            file.base_avma(mmap.addr, mmap.pgoff, mmap.len),
        ) else {
            return;
        };
        let info = ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma: sections.text.as_ref().map(|(r, _)| r.clone()),
            text: sections.text.as_ref().map(|(_, d)| d.clone()),
            got_svma: sections.got.clone(),
            eh_frame_svma: sections.eh_frame.as_ref().map(|(r, _)| r.clone()),
            eh_frame: sections.eh_frame.as_ref().map(|(_, d)| d.clone()),
            eh_frame_hdr_svma: sections.eh_frame_hdr.as_ref().map(|(r, _)| r.clone()),
            eh_frame_hdr: sections.eh_frame_hdr.as_ref().map(|(_, d)| d.clone()),
            debug_frame: sections.debug_frame.clone(),
            ..Default::default()
        };
        state
            .unwinder
            .add_module(Module::new(file.path.clone(), mmap.addr..end, base, info));
    }

    fn user_frame(&self, pid: u32, address: u64) -> RawFrame {
        match self.processes.get(&pid).and_then(|p| p.lookup(address)) {
            Some((start, m)) if m.module.is_some() => RawFrame::User {
                module: m.module.expect("checked"),
                offset: address - start + m.pgoff,
                address,
            },
            _ => RawFrame::Anonymous { pid, address },
        }
    }

    fn in_known_mapping(&self, pid: u32, address: u64) -> bool {
        self.processes
            .get(&pid)
            .and_then(|p| p.lookup(address))
            .is_some()
    }

    /// Unwinds the user part of a sample: lookup addresses (leaf first) and completeness.
    fn unwind_user(&mut self, sample: &Sample<'_>) -> (Vec<u64>, bool, bool) {
        let (_, fp_chain) = split_callchain(&sample.callchain);
        let Some(regs) = sample.regs else {
            return (Vec::new(), true, false);
        };
        let mut out = Vec::new();
        let mut complete = false;
        if let Some(state) = self.processes.get(&sample.pid) {
            let sp = regs.sp;
            let stack = sample.stack;
            let mut read_stack = |addr: u64| -> Result<u64, ()> {
                let off = addr.checked_sub(sp).ok_or(())? as usize;
                let bytes = stack.get(off..off.checked_add(8).ok_or(())?).ok_or(())?;
                Ok(u64::from_ne_bytes(bytes.try_into().map_err(|_| ())?))
            };
            let mut iter = state.unwinder.iter_frames(
                regs.ip,
                UnwindRegsX86_64::new(regs.ip, regs.sp, regs.bp),
                &mut self.cache,
                &mut read_stack,
            );
            loop {
                match iter.next() {
                    Ok(Some(frame)) => {
                        out.push(frame.address_for_lookup());
                        if out.len() > 1024 {
                            break;
                        }
                    }
                    Ok(None) => {
                        complete = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
        } else {
            out.push(regs.ip);
        }
        let mut spliced = false;
        if !complete && !out.is_empty() {
            // DWARF stopped early: continue with the kernel's frame-pointer chain from the
            // last address both walks agree on (the instruction pointer, or a return address).
            let last = match out.len() {
                1 => out[0],
                _ => *out.last().expect("non-empty") + 1,
            };
            if let Some(pos) = fp_chain.iter().position(|&a| a == last)
                && pos + 1 < fp_chain.len()
            {
                let extra: Vec<u64> = fp_chain[pos + 1..]
                    .iter()
                    .take_while(|&&a| a != 0)
                    .map(|&a| a - 1)
                    .collect();
                if !extra.is_empty() {
                    let tail = *extra.last().expect("non-empty");
                    out.extend(extra);
                    spliced = true;
                    complete = self.in_known_mapping(sample.pid, tail);
                }
            }
        }
        (out, complete, spliced)
    }

    fn sample(&mut self, sample: &Sample<'_>) {
        self.touch_time(sample.time);
        let is_switch = self.switch_ids.contains(&sample.id);
        if !is_switch && !self.cpu_ids.is_empty() && !self.cpu_ids.contains(&sample.id) {
            return;
        }
        let (kernel, _) = split_callchain(&sample.callchain);
        let (user, complete, spliced) = self.unwind_user(sample);
        if spliced {
            self.counters.spliced += 1;
        }
        if sample.regs.is_some() {
            if complete {
                self.counters.complete += 1;
            } else {
                self.counters.truncated += 1;
            }
        }
        let mut frames: Vec<RawFrame> = Vec::with_capacity(kernel.len() + user.len());
        frames.extend(kernel.iter().map(|&a| RawFrame::Kernel(a)));
        frames.extend(user.iter().map(|&a| self.user_frame(sample.pid, a)));
        let thread = self
            .threads
            .get(&sample.tid)
            .cloned()
            .unwrap_or_else(|| format!("tid-{}", sample.tid));
        if is_switch {
            self.counters.switch_samples += 1;
            self.pending.insert(
                sample.tid,
                Pending {
                    time: sample.time,
                    thread,
                    frames,
                    truncated: !complete,
                    preempted: false,
                },
            );
        } else {
            self.counters.cpu_samples += 1;
            let key = StackKey {
                thread,
                frames,
                kind: Kind::Cpu,
                truncated: !complete,
            };
            let w = self.stacks.entry(key).or_default();
            w.count += 1;
            w.nanos += sample.period;
        }
    }
}

/// Parses `/proc/PID/maps` into executable file mappings.
pub fn parse_proc_maps(pid: u32, text: &str) -> Vec<Mmap> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms), Some(offset)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let _dev = parts.next();
        let _inode = parts.next();
        let path = parts.collect::<Vec<_>>().join(" ");
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b), Ok(off)) = (
            u64::from_str_radix(a, 16),
            u64::from_str_radix(b, 16),
            u64::from_str_radix(offset, 16),
        ) else {
            continue;
        };
        let exec = perms.as_bytes().get(2) == Some(&b'x');
        out.push(Mmap {
            pid,
            tid: pid,
            addr: a,
            len: b - a,
            pgoff: off,
            build_id: None,
            prot: if exec { 5 } else { 1 },
            filename: path,
            time: 0,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_maps_lines_become_mappings() {
        let text = "55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 123 /usr/bin/x\n\
                    55d0c0a01000-55d0c0a05000 r-xp 00001000 08:01 123 /usr/bin/x\n\
                    7ffd1e9f0000-7ffd1e9f2000 r-xp 00000000 00:00 0 [vdso]\n";
        let maps = parse_proc_maps(7, text);
        assert_eq!(maps.len(), 3);
        assert!(!maps[0].is_exec());
        assert!(maps[1].is_exec());
        assert_eq!(maps[1].pgoff, 0x1000);
        assert_eq!(maps[2].filename, "[vdso]");
    }

    #[test]
    fn switch_in_closes_the_off_cpu_interval_with_its_duration() {
        let mut p = Processor::new();
        p.switch_ids.insert(2);
        let sample = Sample {
            id: 2,
            ip: 0xffff_ffff_8100_0000,
            pid: 5,
            tid: 6,
            time: 1_000,
            cpu: 0,
            period: 1,
            callchain: vec![crate::decode::CONTEXT_KERNEL, 0xffff_ffff_8100_0000],
            regs: None,
            stack: &[],
            kernel_mode: true,
        };
        p.handle(Record::Sample(sample.clone()));
        p.handle(Record::Switch {
            pid: 5,
            tid: 6,
            time: 1_100,
            out: true,
            preempt: true,
        });
        p.handle(Record::Switch {
            pid: 5,
            tid: 6,
            time: 51_000,
            out: false,
            preempt: false,
        });
        let (key, w) = p.stacks.iter().next().unwrap();
        assert_eq!(key.kind, Kind::OffCpu { preempted: true });
        assert_eq!(w.nanos, 50_000);
        assert_eq!(p.counters.off_cpu_intervals, 1);
        // A thread still blocked when recording stops is charged up to the stop time.
        p.handle(Record::Sample(Sample {
            time: 60_000,
            ..sample
        }));
        p.finish(100_000);
        assert_eq!(p.counters.off_cpu_intervals, 2);
        let blocked: u64 = p
            .stacks
            .iter()
            .filter(|(k, _)| k.kind == Kind::OffCpu { preempted: false })
            .map(|(_, w)| w.nanos)
            .sum();
        assert_eq!(blocked, 40_000);
    }
}
