//! Portable decoding of `perf_event_open` ring-buffer records.
//!
//! Everything here reads plain `&[u8]` (native endianness) and makes no system call, so
//! recorded bytes can be replayed in tests. The layout of a sample depends on the
//! `sample_type` and `sample_regs_user` the events were opened with; [`Layout`] carries both.
//! Only the record kinds the sampler asks for are decoded in detail; the others are reported
//! as [`Record::Other`] so a reader can skip them.

/// `PERF_SAMPLE_IP`.
pub const SAMPLE_IP: u64 = 1 << 0;
/// `PERF_SAMPLE_TID`.
pub const SAMPLE_TID: u64 = 1 << 1;
/// `PERF_SAMPLE_TIME`.
pub const SAMPLE_TIME: u64 = 1 << 2;
/// `PERF_SAMPLE_CALLCHAIN`.
pub const SAMPLE_CALLCHAIN: u64 = 1 << 5;
/// `PERF_SAMPLE_CPU`.
pub const SAMPLE_CPU: u64 = 1 << 7;
/// `PERF_SAMPLE_PERIOD`.
pub const SAMPLE_PERIOD: u64 = 1 << 8;
/// `PERF_SAMPLE_REGS_USER`.
pub const SAMPLE_REGS_USER: u64 = 1 << 12;
/// `PERF_SAMPLE_STACK_USER`.
pub const SAMPLE_STACK_USER: u64 = 1 << 13;
/// `PERF_SAMPLE_IDENTIFIER`.
pub const SAMPLE_IDENTIFIER: u64 = 1 << 16;

/// The `sample_type` the sampler always uses; [`Layout`] decodes exactly this set.
pub const SAMPLE_TYPE: u64 = SAMPLE_IDENTIFIER
    | SAMPLE_IP
    | SAMPLE_TID
    | SAMPLE_TIME
    | SAMPLE_CPU
    | SAMPLE_PERIOD
    | SAMPLE_CALLCHAIN
    | SAMPLE_REGS_USER
    | SAMPLE_STACK_USER;

/// x86_64 register numbers (`PERF_REG_X86_BP`, `_SP`, `_IP`) requested in `sample_regs_user`.
pub const REGS_MASK_X86_64: u64 = (1 << 6) | (1 << 7) | (1 << 8);

/// `PERF_RECORD_MMAP`.
pub const RECORD_MMAP: u32 = 1;
/// `PERF_RECORD_LOST`.
pub const RECORD_LOST: u32 = 2;
/// `PERF_RECORD_COMM`.
pub const RECORD_COMM: u32 = 3;
/// `PERF_RECORD_EXIT`.
pub const RECORD_EXIT: u32 = 4;
/// `PERF_RECORD_THROTTLE`.
pub const RECORD_THROTTLE: u32 = 5;
/// `PERF_RECORD_UNTHROTTLE`.
pub const RECORD_UNTHROTTLE: u32 = 6;
/// `PERF_RECORD_FORK`.
pub const RECORD_FORK: u32 = 7;
/// `PERF_RECORD_SAMPLE`.
pub const RECORD_SAMPLE: u32 = 9;
/// `PERF_RECORD_MMAP2`.
pub const RECORD_MMAP2: u32 = 10;
/// `PERF_RECORD_LOST_SAMPLES`.
pub const RECORD_LOST_SAMPLES: u32 = 13;
/// `PERF_RECORD_SWITCH`.
pub const RECORD_SWITCH: u32 = 14;

/// `PERF_RECORD_MISC_CPUMODE_MASK`.
pub const MISC_CPUMODE_MASK: u16 = 7;
/// `PERF_RECORD_MISC_KERNEL`.
pub const MISC_KERNEL: u16 = 1;
/// `PERF_RECORD_MISC_SWITCH_OUT` (also `MISC_COMM_EXEC` on COMM records).
pub const MISC_SWITCH_OUT: u16 = 1 << 13;
/// `PERF_RECORD_MISC_SWITCH_OUT_PREEMPT` (also `MISC_MMAP_BUILD_ID` on MMAP2 records).
pub const MISC_SWITCH_OUT_PREEMPT: u16 = 1 << 14;

/// Call-chain context markers (`PERF_CONTEXT_*`) are at or above this value.
pub const CONTEXT_MAX: u64 = (-4095i64) as u64;
/// `PERF_CONTEXT_KERNEL`.
pub const CONTEXT_KERNEL: u64 = (-128i64) as u64;
/// `PERF_CONTEXT_USER`.
pub const CONTEXT_USER: u64 = (-512i64) as u64;

/// Size of the `perf_event_header` that starts every record.
pub const HEADER_SIZE: usize = 8;
/// Size of the `sample_id` trailer of non-sample records (TID, TIME, CPU, IDENTIFIER).
const SAMPLE_ID_SIZE: usize = 32;

/// Errors found while decoding a record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The record is shorter than its fields say.
    #[error("perf record of type {kind} is truncated: needs more than {len} bytes")]
    Truncated {
        /// The record type.
        kind: u32,
        /// The bytes available.
        len: usize,
    },
}

/// How samples were laid out when the events were opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Number of user registers in each sample (bits set in `sample_regs_user`).
    pub regs_count: usize,
}

impl Layout {
    /// The layout for [`SAMPLE_TYPE`] with the x86_64 register mask.
    pub const X86_64: Layout = Layout {
        regs_count: REGS_MASK_X86_64.count_ones() as usize,
    };
}

/// User registers of a sample (x86_64 frame base, stack pointer, instruction pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRegs {
    /// `rbp`.
    pub bp: u64,
    /// `rsp`.
    pub sp: u64,
    /// `rip`.
    pub ip: u64,
}

/// One `PERF_RECORD_SAMPLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample<'a> {
    /// The event id (`PERF_SAMPLE_IDENTIFIER`), tells the CPU-clock and context-switch events apart.
    pub id: u64,
    /// The sampled instruction pointer (kernel or user).
    pub ip: u64,
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Timestamp (nanoseconds, the event clock).
    pub time: u64,
    /// CPU the sample was taken on.
    pub cpu: u32,
    /// Event period: nanoseconds for `cpu-clock`, 1 for context switches.
    pub period: u64,
    /// Raw call chain, context markers included.
    pub callchain: Vec<u64>,
    /// User registers, if the sample interrupted or came from a user task.
    pub regs: Option<UserRegs>,
    /// The copied user stack, starting at `regs.sp` (only the valid `dyn_size` bytes).
    pub stack: &'a [u8],
    /// True when the sample was taken in kernel mode.
    pub kernel_mode: bool,
}

impl Sample<'_> {
    /// Kernel frames of the call chain, leaf first.
    pub fn kernel_chain(&self) -> Vec<u64> {
        split_callchain(&self.callchain).0
    }

    /// User frames of the kernel's frame-pointer walk, leaf first.
    pub fn user_chain(&self) -> Vec<u64> {
        split_callchain(&self.callchain).1
    }
}

/// Splits a raw call chain into (kernel, user) addresses, dropping the context markers.
pub fn split_callchain(chain: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let mut kernel = Vec::new();
    let mut user = Vec::new();
    let mut in_user = false;
    for &ip in chain {
        if ip >= CONTEXT_MAX {
            in_user = ip == CONTEXT_USER;
            if ip == CONTEXT_KERNEL {
                in_user = false;
            }
            continue;
        }
        if in_user {
            user.push(ip);
        } else {
            kernel.push(ip);
        }
    }
    (kernel, user)
}

/// A file mapping (`PERF_RECORD_MMAP2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mmap {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Start address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// File offset of `addr`.
    pub pgoff: u64,
    /// GNU build id, when the kernel attached one.
    pub build_id: Option<Vec<u8>>,
    /// `PROT_*` bits.
    pub prot: u32,
    /// File name, or a pseudo name such as `[vdso]`.
    pub filename: String,
    /// Timestamp.
    pub time: u64,
}

impl Mmap {
    /// True when the mapping is executable.
    pub fn is_exec(&self) -> bool {
        self.prot & 4 != 0
    }
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// A sample.
    Sample(Sample<'a>),
    /// A new mapping (MMAP or MMAP2).
    Mmap(Mmap),
    /// A thread name, set by `exec` or `prctl`.
    Comm {
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// The new name.
        name: String,
        /// True when set by `exec`.
        exec: bool,
        /// Timestamp.
        time: u64,
    },
    /// A thread or process was created.
    Fork {
        /// Process id of the child.
        pid: u32,
        /// Parent process id.
        ppid: u32,
        /// Thread id of the child.
        tid: u32,
        /// Timestamp.
        time: u64,
    },
    /// A thread or process exited.
    Exit {
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// Timestamp.
        time: u64,
    },
    /// Records the kernel dropped because the ring buffer was full.
    Lost {
        /// Number of lost records.
        count: u64,
        /// Timestamp.
        time: u64,
    },
    /// Samples dropped by the kernel for other reasons (`PERF_RECORD_LOST_SAMPLES`).
    LostSamples {
        /// Number of lost samples.
        count: u64,
    },
    /// The kernel throttled (or unthrottled) the event because of its sample rate.
    Throttle {
        /// True for a throttle, false for an unthrottle.
        throttled: bool,
        /// Timestamp.
        time: u64,
    },
    /// A thread was switched in or out (`PERF_RECORD_SWITCH`).
    Switch {
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// Timestamp.
        time: u64,
        /// True for switch-out.
        out: bool,
        /// True when switched out while still runnable (preempted).
        preempt: bool,
    },
    /// Any other record type.
    Other {
        /// The record type.
        kind: u32,
    },
}

/// A small cursor over native-endian bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    kind: u32,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(DecodeError::Truncated {
            kind: self.kind,
            len: self.bytes.len(),
        })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        Ok(u64::from_ne_bytes(b.try_into().expect("8 bytes")))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_ne_bytes(b.try_into().expect("4 bytes")))
    }

    fn cstr(&mut self, end: usize) -> Result<String, DecodeError> {
        if end < self.pos || end > self.bytes.len() {
            return Err(DecodeError::Truncated {
                kind: self.kind,
                len: self.bytes.len(),
            });
        }
        let raw = &self.bytes[self.pos..end];
        let nul = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        self.pos = end;
        Ok(String::from_utf8_lossy(&raw[..nul]).into_owned())
    }
}

/// Reads the record header: (type, misc, size).
pub fn header(bytes: &[u8]) -> Option<(u32, u16, u16)> {
    if bytes.len() < HEADER_SIZE {
        return None;
    }
    let kind = u32::from_ne_bytes(bytes[0..4].try_into().ok()?);
    let misc = u16::from_ne_bytes(bytes[4..6].try_into().ok()?);
    let size = u16::from_ne_bytes(bytes[6..8].try_into().ok()?);
    Some((kind, misc, size))
}

/// The timestamp of a whole record (header included), used to merge buffers in time order.
///
/// Samples carry it after identifier, ip and tid; other records in their `sample_id`
/// trailer. Returns 0 when the record is too short to have one.
pub fn record_time(bytes: &[u8]) -> u64 {
    let Some((kind, _, _)) = header(bytes) else {
        return 0;
    };
    let at = if kind == RECORD_SAMPLE {
        HEADER_SIZE + 24
    } else if bytes.len() >= HEADER_SIZE + SAMPLE_ID_SIZE {
        bytes.len() - SAMPLE_ID_SIZE + 8
    } else {
        return 0;
    };
    bytes
        .get(at..at + 8)
        .map_or(0, |b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
}

/// Decodes one whole record (header included).
pub fn decode<'a>(layout: &Layout, bytes: &'a [u8]) -> Result<Record<'a>, DecodeError> {
    let (kind, misc, _) = header(bytes).ok_or(DecodeError::Truncated {
        kind: 0,
        len: bytes.len(),
    })?;
    let mut c = Cursor {
        bytes,
        pos: HEADER_SIZE,
        kind,
    };
    let trailer_time = || record_time(bytes);
    Ok(match kind {
        RECORD_SAMPLE => Record::Sample(decode_sample(layout, &mut c, misc)?),
        RECORD_MMAP2 => {
            let pid = c.u32()?;
            let tid = c.u32()?;
            let addr = c.u64()?;
            let len = c.u64()?;
            let pgoff = c.u64()?;
            let build_id = if misc & MISC_SWITCH_OUT_PREEMPT != 0 {
                let head = c.take(4)?;
                let size = usize::from(head[0]).min(20);
                let id = c.take(20)?;
                Some(id[..size].to_vec())
            } else {
                c.take(24)?;
                None
            };
            let prot = c.u32()?;
            let _flags = c.u32()?;
            let end = bytes.len().saturating_sub(SAMPLE_ID_SIZE);
            let filename = c.cstr(end)?;
            Record::Mmap(Mmap {
                pid,
                tid,
                addr,
                len,
                pgoff,
                build_id,
                prot,
                filename,
                time: trailer_time(),
            })
        }
        RECORD_MMAP => {
            let pid = c.u32()?;
            let tid = c.u32()?;
            let addr = c.u64()?;
            let len = c.u64()?;
            let pgoff = c.u64()?;
            let end = bytes.len().saturating_sub(SAMPLE_ID_SIZE);
            let filename = c.cstr(end)?;
            Record::Mmap(Mmap {
                pid,
                tid,
                addr,
                len,
                pgoff,
                build_id: None,
                // MMAP (not MMAP2) records are only emitted for executable mappings.
                prot: 4 | 1,
                filename,
                time: trailer_time(),
            })
        }
        RECORD_COMM => {
            let pid = c.u32()?;
            let tid = c.u32()?;
            let end = bytes.len().saturating_sub(SAMPLE_ID_SIZE);
            let name = c.cstr(end)?;
            Record::Comm {
                pid,
                tid,
                name,
                exec: misc & MISC_SWITCH_OUT != 0,
                time: trailer_time(),
            }
        }
        RECORD_FORK | RECORD_EXIT => {
            let pid = c.u32()?;
            let ppid = c.u32()?;
            let tid = c.u32()?;
            let _ptid = c.u32()?;
            let time = c.u64()?;
            if kind == RECORD_FORK {
                Record::Fork {
                    pid,
                    ppid,
                    tid,
                    time,
                }
            } else {
                Record::Exit { pid, tid, time }
            }
        }
        RECORD_LOST => {
            let _id = c.u64()?;
            let count = c.u64()?;
            Record::Lost {
                count,
                time: trailer_time(),
            }
        }
        RECORD_LOST_SAMPLES => Record::LostSamples { count: c.u64()? },
        RECORD_THROTTLE | RECORD_UNTHROTTLE => {
            let time = c.u64()?;
            Record::Throttle {
                throttled: kind == RECORD_THROTTLE,
                time,
            }
        }
        RECORD_SWITCH => {
            let pid = c.u32()?;
            let tid = c.u32()?;
            let time = c.u64()?;
            Record::Switch {
                pid,
                tid,
                time,
                out: misc & MISC_SWITCH_OUT != 0,
                preempt: misc & MISC_SWITCH_OUT_PREEMPT != 0,
            }
        }
        other => Record::Other { kind: other },
    })
}

fn decode_sample<'a>(
    layout: &Layout,
    c: &mut Cursor<'a>,
    misc: u16,
) -> Result<Sample<'a>, DecodeError> {
    let id = c.u64()?;
    let ip = c.u64()?;
    let pid = c.u32()?;
    let tid = c.u32()?;
    let time = c.u64()?;
    let cpu = c.u32()?;
    let _res = c.u32()?;
    let period = c.u64()?;
    let nr = c.u64()? as usize;
    let mut callchain = Vec::with_capacity(nr.min(1024));
    for _ in 0..nr {
        callchain.push(c.u64()?);
    }
    let abi = c.u64()?;
    let regs = if abi != 0 {
        let mut values = [0u64; 8];
        for value in values.iter_mut().take(layout.regs_count) {
            *value = c.u64()?;
        }
        Some(UserRegs {
            bp: values[0],
            sp: values[1],
            ip: values[2],
        })
    } else {
        None
    };
    let size = c.u64()? as usize;
    let stack = if size > 0 {
        let data = c.take(size)?;
        let dyn_size = (c.u64()? as usize).min(size);
        &data[..dyn_size]
    } else {
        &[][..]
    };
    Ok(Sample {
        id,
        ip,
        pid,
        tid,
        time,
        cpu,
        period,
        callchain,
        regs,
        stack,
        kernel_mode: misc & MISC_CPUMODE_MASK == MISC_KERNEL,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push_header(out: &mut Vec<u8>, kind: u32, misc: u16) {
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&misc.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
    }

    fn finish(mut out: Vec<u8>) -> Vec<u8> {
        let len = out.len() as u16;
        out[6..8].copy_from_slice(&len.to_ne_bytes());
        out
    }

    fn sample_id(out: &mut Vec<u8>, pid: u32, tid: u32, time: u64) {
        out.extend_from_slice(&pid.to_ne_bytes());
        out.extend_from_slice(&tid.to_ne_bytes());
        out.extend_from_slice(&time.to_ne_bytes());
        out.extend_from_slice(&0u64.to_ne_bytes());
        out.extend_from_slice(&7u64.to_ne_bytes());
    }

    #[test]
    fn switch_out_preempt_is_decoded_with_its_trailer_time() {
        let mut r = Vec::new();
        push_header(
            &mut r,
            RECORD_SWITCH,
            MISC_SWITCH_OUT | MISC_SWITCH_OUT_PREEMPT,
        );
        sample_id(&mut r, 10, 11, 12345);
        let r = finish(r);
        assert_eq!(record_time(&r), 12345);
        assert_eq!(
            decode(&Layout::X86_64, &r).unwrap(),
            Record::Switch {
                pid: 10,
                tid: 11,
                time: 12345,
                out: true,
                preempt: true
            }
        );
    }

    #[test]
    fn callchain_is_split_at_context_markers() {
        let chain = [
            CONTEXT_KERNEL,
            0xffff_0001,
            0xffff_0002,
            CONTEXT_USER,
            0x401000,
            0x402000,
        ];
        let (k, u) = split_callchain(&chain);
        assert_eq!(k, vec![0xffff_0001, 0xffff_0002]);
        assert_eq!(u, vec![0x401000, 0x402000]);
    }

    #[test]
    fn truncated_sample_is_an_error_not_a_panic() {
        let mut r = Vec::new();
        push_header(&mut r, RECORD_SAMPLE, 2);
        r.extend_from_slice(&[0u8; 12]);
        let r = finish(r);
        assert!(matches!(
            decode(&Layout::X86_64, &r),
            Err(DecodeError::Truncated { kind: 9, .. })
        ));
    }
}
