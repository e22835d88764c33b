//! A realistic profile with known ground truth, shared by the component tests.
//!
//! Thread `main` burns CPU in `compute` → `hash_block` (300 ms) and `compress` (100 ms);
//! thread `worker-1` waits 400 ms on a lock in `take_job` and runs 50 ms in `parse`;
//! thread `ticker` sleeps 150 ms. One stack is truncated and one frame is unsymbolized.

use flamewatch_profile::{Frame, Profile, RunStats, ValueType};

const MS: i64 = 1_000_000;

fn f(function: &str, file: &str, line: u32, address: u64) -> Frame {
    Frame {
        function: function.into(),
        file: Some(file.into()),
        line: Some(line),
        module: Some("/usr/bin/app".into()),
        address,
        inlined: false,
    }
}

fn k(function: &str, address: u64) -> Frame {
    Frame {
        function: function.into(),
        file: None,
        line: None,
        module: Some("[kernel]".into()),
        address,
        inlined: false,
    }
}

/// Builds the fixture profile.
pub fn profile() -> Profile {
    let mut p = Profile::new(vec![
        ValueType::new("cpu", "nanoseconds"),
        ValueType::new("off_cpu", "nanoseconds"),
        ValueType::new("samples", "count"),
    ]);
    p.set_command("app --input data.bin");
    p.set_period(ValueType::new("cpu", "nanoseconds"), 1_001_001);
    p.time_nanos = 1_700_000_000_000_000_000;
    p.duration_nanos = 600 * MS;
    p.add_comment("fixture");
    let main = f("main", "src/main.rs", 10, 0x1000);
    let run = f("app::run", "src/lib.rs", 40, 0x1100);
    let compute = f("app::compute", "src/compute.rs", 12, 0x1200);
    let hash = Frame {
        inlined: true,
        ..f("app::hash_block", "src/hash.rs", 7, 0x1300)
    };
    let mix = f("app::mix", "src/hash.rs", 30, 0x1300);
    let compress = f("app::compress", "src/compress.rs", 88, 0x1400);
    let worker = f("app::worker", "src/worker.rs", 5, 0x2000);
    let take = f("app::take_job", "src/worker.rs", 19, 0x2100);
    let lock = f(
        "std::sync::Mutex<T>::lock",
        "library/std/src/sync/mutex.rs",
        317,
        0x2200,
    );
    let parse = f("app::parse", "src/parse.rs", 61, 0x2300);
    let tick = f("app::tick", "src/tick.rs", 3, 0x3000);
    let sleep = f(
        "std::thread::sleep",
        "library/std/src/thread/mod.rs",
        900,
        0x3100,
    );

    let main_t = [("thread", "main")];
    p.add_sample(
        &[
            hash.clone(),
            mix.clone(),
            compute.clone(),
            run.clone(),
            main.clone(),
        ],
        &[300 * MS, 0, 300],
        &main_t,
    );
    p.add_sample(
        &[compress.clone(), run.clone(), main.clone()],
        &[100 * MS, 0, 100],
        &main_t,
    );
    p.add_sample(
        &[
            k("futex_wait_queue", 0xffff_ffff_8100_0000),
            k("futex_wait", 0xffff_ffff_8100_0100),
            lock,
            take.clone(),
            worker.clone(),
            main.clone(),
        ],
        &[0, 400 * MS, 40],
        &[("thread", "worker-1"), ("off_cpu_reason", "lock")],
    );
    p.add_sample(
        &[parse, take, worker.clone(), main.clone()],
        &[50 * MS, 0, 50],
        &[("thread", "worker-1")],
    );
    p.add_sample(
        &[
            k("do_nanosleep", 0xffff_ffff_8200_0000),
            sleep,
            tick,
            main.clone(),
        ],
        &[0, 150 * MS, 15],
        &[("thread", "ticker"), ("off_cpu_reason", "sleep")],
    );
    let unknown = Frame {
        function: "0x7f00deadbeef".into(),
        module: Some("/usr/lib/libweird.so".into()),
        address: 0x7f00_dead_beef,
        ..Frame::default()
    };
    p.add_sample(
        &[unknown, worker],
        &[2 * MS, 0, 2],
        &[("thread", "worker-1"), ("stack", "truncated")],
    );
    p.set_run_stats(RunStats {
        wall_ns: Some(600_000_000),
        cpu_user_ns: Some(420_000_000),
        cpu_sys_ns: Some(35_000_000),
        peak_rss_bytes: Some(48 << 20),
        io_read_bytes: Some(1 << 20),
        io_write_bytes: Some(4096),
        samples: 507,
        lost_records: 0,
        throttled: 0,
        truncated_stacks: 2,
        unsymbolized_frames: 2,
        total_frames: 2400,
        frequency_hz: 999,
        exit_code: Some(0),
    });
    p
}

/// A canonical, order-independent view of a profile for equality checks: every sample
/// as frames, values and string labels, sorted, plus the metadata.
pub fn canonical(p: &Profile) -> String {
    let mut samples: Vec<String> = p
        .samples()
        .iter()
        .map(|s| {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|l| match l.value {
                    flamewatch_profile::LabelValue::Str(v) => {
                        format!("{}={}", p.string(l.key), p.string(v))
                    }
                    flamewatch_profile::LabelValue::Num { value, unit } => {
                        format!("{}={}{}", p.string(l.key), value, p.string(unit))
                    }
                })
                .collect();
            format!("{:?} {:?} {:?}", p.frames(s.stack), s.values, labels)
        })
        .collect();
    samples.sort();
    format!(
        "types={:?} period={:?}/{} time={} dur={} cmd={:?} comments={:?} default={:?} run={:?}\n{}",
        p.sample_types(),
        p.period_type,
        p.period,
        p.time_nanos,
        p.duration_nanos,
        p.command,
        p.comments,
        p.default_sample_type,
        p.run,
        samples.join("\n")
    )
}
