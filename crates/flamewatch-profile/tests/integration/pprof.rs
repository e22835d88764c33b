//! pprof: lossless round trips, the pinned wire encoding, malformed input, and
//! `go tool pprof` reading our output.

use crate::fixture;
use flamewatch_profile::pprof::{self, proto};
use prost::Message;

#[test]
fn model_pprof_model_round_trip_is_lossless() {
    let original = fixture::profile();
    let bytes = pprof::encode(&original);
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "output is gzip");
    let decoded = pprof::decode(&bytes).unwrap();
    assert_eq!(fixture::canonical(&decoded), fixture::canonical(&original));
    assert_eq!(decoded.mappings().len(), original.mappings().len());
    // and once more: a decoded profile encodes to the same message content
    let again = pprof::decode(&pprof::encode(&decoded)).unwrap();
    assert_eq!(fixture::canonical(&again), fixture::canonical(&original));
}

/// A message as another tool writes it: duplicate samples, numeric labels, mapping ranges,
/// a folded location and ids that are not 1..n.
fn foreign() -> proto::Profile {
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    proto::Profile {
        string_table: s(&[
            "",
            "samples",
            "count",
            "cpu",
            "nanoseconds",
            "main",
            "work",
            "main.go",
            "/bin/x",
            "bytes",
            "size",
            "abc123",
            "comment one",
            "thread",
            "t1",
            "go.*",
        ]),
        sample_type: vec![
            proto::ValueType { r#type: 1, unit: 2 },
            proto::ValueType { r#type: 3, unit: 4 },
        ],
        mapping: vec![proto::Mapping {
            id: 7,
            memory_start: 0x400000,
            memory_limit: 0x500000,
            file_offset: 0x1000,
            filename: 8,
            build_id: 11,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: false,
        }],
        function: vec![
            proto::Function {
                id: 100,
                name: 5,
                system_name: 5,
                filename: 7,
                start_line: 3,
            },
            proto::Function {
                id: 200,
                name: 6,
                system_name: 6,
                filename: 7,
                start_line: 20,
            },
        ],
        location: vec![
            proto::Location {
                id: 11,
                mapping_id: 7,
                address: 0x401000,
                line: vec![proto::Line {
                    function_id: 100,
                    line: 9,
                    column: 2,
                }],
                is_folded: false,
            },
            proto::Location {
                id: 12,
                mapping_id: 7,
                address: 0x402000,
                line: vec![
                    proto::Line {
                        function_id: 200,
                        line: 22,
                        column: 0,
                    },
                    proto::Line {
                        function_id: 100,
                        line: 10,
                        column: 0,
                    },
                ],
                is_folded: true,
            },
            proto::Location {
                id: 13,
                mapping_id: 0,
                address: 0x7fff,
                line: vec![],
                is_folded: false,
            },
        ],
        sample: vec![
            proto::Sample {
                location_id: vec![12, 11],
                value: vec![3, 30_000_000],
                label: vec![proto::Label {
                    key: 13,
                    str: 14,
                    num: 0,
                    num_unit: 0,
                }],
            },
            proto::Sample {
                location_id: vec![12, 11],
                value: vec![3, 30_000_000],
                label: vec![proto::Label {
                    key: 13,
                    str: 14,
                    num: 0,
                    num_unit: 0,
                }],
            },
            proto::Sample {
                location_id: vec![13, 11],
                value: vec![1, 10_000_000],
                label: vec![proto::Label {
                    key: 10,
                    str: 0,
                    num: 4096,
                    num_unit: 9,
                }],
            },
        ],
        drop_frames: 15,
        keep_frames: 0,
        time_nanos: 1_600_000_000_000_000_000,
        duration_nanos: 5_000_000_000,
        period_type: Some(proto::ValueType { r#type: 3, unit: 4 }),
        period: 10_000_000,
        comment: vec![12],
        default_sample_type: 3,
        doc_url: 0,
    }
}

#[test]
fn pprof_model_pprof_round_trip_keeps_every_field() {
    let message = foreign();
    let profile = pprof::decode(&message.encode_to_vec()).unwrap();
    assert_eq!(
        profile.samples().len(),
        3,
        "duplicate samples are kept as they are"
    );
    let back = pprof::to_proto(&profile);
    let again = pprof::from_proto(&back).unwrap();
    assert_eq!(fixture::canonical(&again), fixture::canonical(&profile));
    // field-level checks on the re-encoded message
    let text = |i: i64| back.string_table[i as usize].as_str();
    assert_eq!(back.mapping.len(), 1);
    let m = &back.mapping[0];
    assert_eq!(
        (m.memory_start, m.memory_limit, m.file_offset),
        (0x400000, 0x500000, 0x1000)
    );
    assert_eq!((text(m.filename), text(m.build_id)), ("/bin/x", "abc123"));
    assert!(m.has_functions && m.has_filenames && m.has_line_numbers && !m.has_inline_frames);
    let folded = back.location.iter().find(|l| l.is_folded).unwrap();
    assert_eq!(folded.line.len(), 2);
    assert_eq!(folded.line[0].line, 22);
    let f = back
        .function
        .iter()
        .find(|f| text(f.name) == "work")
        .unwrap();
    assert_eq!((text(f.filename), f.start_line), ("main.go", 20));
    assert!(
        back.location
            .iter()
            .any(|l| l.line.is_empty() && l.address == 0x7fff && l.mapping_id == 0)
    );
    let num = back
        .sample
        .iter()
        .flat_map(|s| &s.label)
        .find(|l| l.num != 0)
        .unwrap();
    assert_eq!(
        (text(num.key), num.num, text(num.num_unit)),
        ("size", 4096, "bytes")
    );
    assert_eq!(text(back.drop_frames), "go.*");
    assert_eq!(text(back.default_sample_type), "cpu");
    assert_eq!(
        back.comment.iter().map(|&c| text(c)).collect::<Vec<_>>(),
        ["comment one"]
    );
    assert_eq!(
        (back.period, back.time_nanos, back.duration_nanos),
        (10_000_000, 1_600_000_000_000_000_000, 5_000_000_000)
    );
    assert_eq!(back.string_table[0], "");
}

#[test]
fn wire_encoding_of_every_field_matches_golden() {
    let bytes = foreign().encode_to_vec();
    let hex: String = bytes
        .chunks(32)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    crate::golden("pprof", "foreign.pb.hex", &hex);
}

#[test]
fn malformed_pprof_is_an_error_not_a_panic() {
    let good = pprof::encode(&fixture::profile());
    let err = pprof::decode(&good[..good.len() / 2]).unwrap_err();
    assert!(err.to_string().starts_with("invalid pprof data"), "{err}");
    let mut bad = foreign();
    bad.function[0].name = 999;
    let err = pprof::decode(&bad.encode_to_vec()).unwrap_err();
    assert!(
        err.to_string()
            .contains("function name refers to string 999"),
        "{err}"
    );
    let mut bad = foreign();
    bad.sample[0].location_id.push(404);
    let err = pprof::decode(&bad.encode_to_vec()).unwrap_err();
    assert!(err.to_string().contains("unknown location 404"), "{err}");
    let mut bad = foreign();
    bad.string_table[0] = "x".into();
    assert!(pprof::decode(&bad.encode_to_vec()).is_err());
    // deterministic pseudo-random garbage and bit flips never panic
    let raw = foreign().encode_to_vec();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2000 {
        let mut bytes = raw.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() as usize) % bytes.len();
            bytes[i] ^= 1 << (next() % 8);
        }
        let _ = pprof::decode(&bytes);
        let len = (next() % 64) as usize;
        let junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = pprof::decode(&junk);
    }
}

#[test]
fn go_tool_pprof_reads_our_output() {
    let Some(go) = find_go() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "`go` is not installed but CI is set: run scripts/setup.sh (installs golang-go)"
        );
        eprintln!("go_tool_pprof_reads_our_output: `go` not found; run scripts/setup.sh to enable");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fixture.pb.gz");
    pprof::write_file(&fixture::profile(), &path).unwrap();
    let output = std::process::Command::new(go)
        .args(["tool", "pprof", "-top", "-nodecount=50"])
        .arg(&path)
        .env("PPROF_TMPDIR", dir.path())
        .env("HOME", dir.path())
        .env("GOCACHE", dir.path().join("gocache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "go tool pprof failed: {stderr}");
    // the default sample type is CPU time: 300 + 100 + 50 + 2 ms
    assert!(stdout.contains("Type: cpu"), "stdout:\n{stdout}");
    assert!(
        stdout.contains("452ms total"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for name in ["app::mix", "app::hash_block", "app::compress", "app::parse"] {
        assert!(stdout.contains(name), "{name} missing from:\n{stdout}");
    }
    // the flat time of the inlined leaf is attributed to it
    let line = stdout
        .lines()
        .find(|l| l.ends_with("app::hash_block (inline)"))
        .unwrap_or_else(|| panic!("no app::hash_block line in:\n{stdout}"));
    assert!(line.trim_start().starts_with("300ms"), "{line}");
    let off = std::process::Command::new(find_go().unwrap())
        .args(["tool", "pprof", "-top", "-sample_index=off_cpu"])
        .arg(&path)
        .env("PPROF_TMPDIR", dir.path())
        .env("HOME", dir.path())
        .env("GOCACHE", dir.path().join("gocache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&off.stdout);
    assert!(stdout.contains("550ms total"), "{stdout}");
    assert!(stdout.contains("futex_wait_queue"), "{stdout}");

    // Go re-encodes our profile (`-proto`); we decode Go's output to the same samples.
    let go_written = dir.path().join("from_go.pb.gz");
    let out = std::process::Command::new(find_go().unwrap())
        .args(["tool", "pprof", "-proto", "-output"])
        .arg(&go_written)
        .arg(&path)
        .env("PPROF_TMPDIR", dir.path())
        .env("HOME", dir.path())
        .env("GOCACHE", dir.path().join("gocache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_go = pprof::read_file(&go_written).unwrap();
    let original = fixture::profile();
    assert_eq!(from_go.total(0), original.total(0));
    assert_eq!(from_go.total(1), original.total(1));
    assert_eq!(from_go.command, original.command);
    assert_eq!(from_go.run, original.run);
    // pprof shortens C++/Rust template parameters in function names when it re-encodes
    // (`Mutex<T>::lock` → `Mutex::lock`); everything else is identical.
    assert_eq!(
        flamewatch_profile::folded::to_string(&from_go),
        flamewatch_profile::folded::to_string(&original).replace("Mutex<T>", "Mutex")
    );
}

fn find_go() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/lib/go/bin".into(), "/usr/local/go/bin".into()])
        .map(|d| d.join("go"))
        .find(|p| p.is_file())
}

/// Random profiles (names, files, lines, modules, inline chains, labels, values) survive
/// model → pprof → model unchanged.
#[test]
fn random_profiles_round_trip_through_pprof() {
    use flamewatch_profile::{Frame, Profile, ValueType};
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..40 {
        let mut p = Profile::new(vec![
            ValueType::new("cpu", "nanoseconds"),
            ValueType::new("off_cpu", "nanoseconds"),
            ValueType::new("samples", "count"),
        ]);
        if round % 2 == 0 {
            p.set_command(format!("prog --round {round}"));
        }
        p.duration_nanos = (next() % 1_000_000_000) as i64;
        for _ in 0..(next() % 60 + 1) {
            let depth = (next() % 12 + 1) as usize;
            let stack: Vec<Frame> = (0..depth)
                .map(|d| {
                    let f = next() % 25;
                    Frame {
                        function: format!("mod{}::func_{f}<T; {d}>", f % 3),
                        file: (f % 4 != 0).then(|| format!("src/f{}.rs", f % 5)),
                        line: (f % 3 != 0).then_some((f * 7 + 1) as u32),
                        module: match f % 5 {
                            0 => None,
                            1 => Some("[kernel]".into()),
                            _ => Some(format!("/lib/m{}.so", f % 2)),
                        },
                        address: 0x1000 + f * 0x10,
                        inlined: d + 1 < depth && next() % 4 == 0,
                    }
                })
                .collect();
            let values = [
                (next() % 5_000_000) as i64,
                (next() % 3 * 1_000_000) as i64,
                1,
            ];
            let thread = format!("t{}", next() % 3);
            let mut labels: Vec<(&str, &str)> = vec![("thread", thread.as_str())];
            if values[1] > 0 {
                labels.push((
                    "off_cpu_reason",
                    ["lock", "sleep", "io_file"][(next() % 3) as usize],
                ));
            }
            p.add_sample(&stack, &values, &labels);
        }
        let back = pprof::decode(&pprof::encode(&p)).unwrap();
        assert_eq!(
            fixture::canonical(&back),
            fixture::canonical(&p),
            "round {round}"
        );
    }
}
