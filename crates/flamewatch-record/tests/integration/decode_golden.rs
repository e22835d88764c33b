//! Golden tests of record decoding on bytes captured from a real ring buffer.
//!
//! `tests/data/decode/split.records` holds the raw records of a short recording of the
//! `split` test program (cpu-clock at 199 Hz, context switches, 256-byte stack copies),
//! merged in time order as the reader processed them. `split.expected` is one line per
//! decoded record. Set `FLAMEWATCH_BLESS=1` to capture new bytes from the kernel and rewrite
//! both files.

use crate::programs;
use flamewatch_record::decode::{self, Layout, Record};
use flamewatch_record::{RecordConfig, record};
use std::fmt::Write as _;
use std::path::Path;

fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/decode"))
}

/// Splits concatenated records using their header sizes.
fn split_records(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((_, _, size)) = decode::header(&bytes[at..]) {
        let size = usize::from(size);
        assert!(
            size >= 8 && at + size <= bytes.len(),
            "corrupt dump at {at}"
        );
        out.push(&bytes[at..at + size]);
        at += size;
    }
    assert_eq!(at, bytes.len(), "trailing bytes in dump");
    out
}

fn describe(records: &[&[u8]]) -> String {
    let mut text = String::new();
    for bytes in records {
        let line = match decode::decode(&Layout::X86_64, bytes).expect("decodes") {
            Record::Sample(s) => {
                let (k, u) = decode::split_callchain(&s.callchain);
                format!(
                    "sample id={} pid={} tid={} time={} cpu={} period={} ip={:#x} kernel_frames={} user_fp_frames={} regs={} stack={}",
                    s.id,
                    s.pid,
                    s.tid,
                    s.time,
                    s.cpu,
                    s.period,
                    s.ip,
                    k.len(),
                    u.len(),
                    s.regs.map_or("none".to_string(), |r| format!(
                        "ip={:#x},sp={:#x}",
                        r.ip, r.sp
                    )),
                    s.stack.len()
                )
            }
            Record::Mmap(m) => format!(
                "mmap pid={} addr={:#x} len={:#x} pgoff={:#x} exec={} build_id={} file={}",
                m.pid,
                m.addr,
                m.len,
                m.pgoff,
                m.is_exec(),
                m.build_id.map_or(0, |b| b.len()),
                m.filename
            ),
            Record::Comm {
                pid,
                tid,
                name,
                exec,
                time,
            } => {
                format!("comm pid={pid} tid={tid} name={name} exec={exec} time={time}")
            }
            Record::Fork {
                pid,
                ppid,
                tid,
                time,
            } => {
                format!("fork pid={pid} ppid={ppid} tid={tid} time={time}")
            }
            Record::Exit { pid, tid, time } => format!("exit pid={pid} tid={tid} time={time}"),
            Record::Switch {
                pid,
                tid,
                time,
                out,
                preempt,
            } => {
                format!("switch pid={pid} tid={tid} time={time} out={out} preempt={preempt}")
            }
            other => format!("{other:?}"),
        };
        writeln!(text, "{line}").expect("write to string");
    }
    text
}

#[test]
fn captured_ring_buffer_bytes_decode_to_the_golden_records() {
    let dump = data_dir().join("split.records");
    let expected = data_dir().join("split.expected");
    if std::env::var_os("FLAMEWATCH_BLESS").is_some() {
        std::fs::create_dir_all(data_dir()).expect("create data dir");
        let bin = programs::build("split");
        let mut config = RecordConfig::launch(bin.to_string_lossy(), vec!["60".into()]);
        config.frequency = 199;
        config.stack_size = 256;
        config.dump_records = Some(dump.clone());
        record(&config).expect("record");
        let bytes = std::fs::read(&dump).expect("read dump");
        std::fs::write(&expected, describe(&split_records(&bytes))).expect("write expected");
    }
    let bytes = std::fs::read(&dump).expect("golden dump exists (bless with FLAMEWATCH_BLESS=1)");
    let records = split_records(&bytes);
    let text = describe(&records);
    let want = std::fs::read_to_string(&expected).expect("golden text exists");
    assert_eq!(text, want);
    // Beyond the text: the capture has what the sampler relies on.
    let decoded: Vec<Record<'_>> = records
        .iter()
        .map(|b| decode::decode(&Layout::X86_64, b).expect("decodes"))
        .collect();
    let samples: Vec<_> = decoded
        .iter()
        .filter_map(|r| match r {
            Record::Sample(s) => Some(s),
            _ => None,
        })
        .collect();
    assert!(samples.len() >= 5, "only {} samples", samples.len());
    assert!(
        samples
            .iter()
            .all(|s| s.regs.is_some() && !s.stack.is_empty())
    );
    assert!(
        decoded
            .iter()
            .any(|r| matches!(r, Record::Mmap(m) if m.filename.ends_with("/split") && m.is_exec()))
    );
    assert!(
        decoded
            .iter()
            .any(|r| matches!(r, Record::Comm { name, .. } if name == "split"))
    );
    assert!(decoded.iter().any(|r| matches!(r, Record::Switch { .. })));
    let times: Vec<u64> = records.iter().map(|b| decode::record_time(b)).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "records are in time order"
    );
}
