//! Rendered outputs: SVG flamegraph, speedscope JSON, the text report and the diff table,
//! each against a golden file, plus writing every format into a directory.

use crate::fixture;
use flamewatch_profile::flamegraph::{self, SvgOptions};
use flamewatch_profile::{
    Format, MapOptions, OutputRequest, diff, folded, map, pprof, report, speedscope,
};
use std::time::{Duration, UNIX_EPOCH};

fn svg(profile: &flamewatch_profile::Profile) -> String {
    let mut out = Vec::new();
    flamegraph::write_svg(profile, &SvgOptions::default(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn svg_flamegraph_matches_golden_and_colours_off_cpu_blue() {
    let text = svg(&fixture::profile());
    crate::golden("flamegraph", "fixture.svg", &text);
    assert!(text.contains("flamewatch: app --input data.bin"));
    assert!(text.contains(
        "duration 0.60 s · 507 samples · on-CPU 452.0 ms · off-CPU 550.0 ms · blue = off-CPU"
    ));
    // the lock wait is a frame of its own, labelled in ms, and drawn in a blue shade
    let title = "[off-cpu:lock] (400 ms, 39.92%)";
    let at = text
        .find(title)
        .unwrap_or_else(|| panic!("no `{title}` in svg"));
    let rect = &text[at..text[at..].find("/>").map_or(text.len(), |e| at + e)];
    let fill = rect.split("fill=\"").nth(1).unwrap();
    let (r, g, b) = parse_rgb(fill);
    assert!(b > r && b > g, "off-CPU frame should be blue, got {fill}");
    // an on-CPU frame is warm
    let at = text.find("app::hash_block (300 ms").unwrap();
    let rect = &text[at..at + text[at..].find("/>").unwrap()];
    let (r, _, b) = parse_rgb(rect.split("fill=\"").nth(1).unwrap());
    assert!(r > b, "on-CPU frame should be warm");
}

fn parse_rgb(s: &str) -> (u32, u32, u32) {
    let inner = &s[s.find('(').unwrap() + 1..s.find(')').unwrap()];
    let v: Vec<u32> = inner
        .split(',')
        .map(|x| x.trim().parse().unwrap())
        .collect();
    (v[0], v[1], v[2])
}

#[test]
fn speedscope_matches_golden_and_has_one_profile_per_thread() {
    let json = speedscope::to_json(&fixture::profile());
    crate::golden(
        "speedscope",
        "fixture.speedscope.json",
        &(serde_json::to_string_pretty(&json).unwrap() + "\n"),
    );
    let names: Vec<&str> = json["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["main", "ticker", "worker-1"]);
    let main = &json["profiles"][0];
    assert_eq!(main["endValue"], 400_000_000);
    assert_eq!(main["unit"], "nanoseconds");
    let frames = json["shared"]["frames"].as_array().unwrap();
    for (stack, weight) in main["samples"]
        .as_array()
        .unwrap()
        .iter()
        .zip(main["weights"].as_array().unwrap())
    {
        assert!(weight.as_i64().unwrap() > 0);
        for i in stack.as_array().unwrap() {
            assert!((i.as_u64().unwrap() as usize) < frames.len());
        }
    }
}

#[test]
fn report_matches_golden() {
    let p = fixture::profile();
    let m = map::build(&p, MapOptions::default());
    let text = report::render(&p, &m);
    crate::golden("report", "fixture.txt", &text);
    assert!(text.contains(
        "quality: 507 samples, 0 lost (0.00%), 0.39% truncated stacks, 0.08% unsymbolized frames"
    ));
}

#[test]
fn diff_table_sorts_by_absolute_change() {
    let before = fixture::profile();
    let text = folded::to_string(&before)
        .replace("app::hash_block 300000000", "app::hash_block 100000000")
        .replace("app::compress 100000000", "app::compress 150000000");
    let after = folded::read(&text, folded::FoldedUnit::Nanoseconds).unwrap();
    let deltas = diff::function_deltas(&before, &after);
    assert_eq!(deltas[0].name, "app::hash_block");
    assert_eq!(deltas[0].self_delta(), -200_000_000);
    assert_eq!(deltas[1].name, "app::compress");
    assert_eq!(deltas[1].self_delta(), 50_000_000);
    let table = diff::render_table(&before, &after, 20);
    crate::golden("diff", "fixture.txt", &table);
    let mut svg = Vec::new();
    flamegraph::write_diff_svg(&before, &after, false, &mut svg).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    let title = svg
        .split("<title>")
        .find(|t| t.starts_with("app::hash_block"))
        .map(|t| &t[..t.find("</title>").unwrap()])
        .unwrap_or_else(|| panic!("no hash_block frame in diff svg"));
    assert!(
        title.starts_with("app::hash_block (100 ms, "),
        "after widths are drawn: {title}"
    );
    assert!(title.contains("-"), "hash_block shrank: {title}");
}

#[test]
fn write_all_writes_every_format_with_timestamped_names() {
    let dir = tempfile::tempdir().unwrap();
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let request = OutputRequest::new(dir.path(), "app", time).with_formats(Format::ALL.to_vec());
    let profile = fixture::profile();
    let written = flamewatch_profile::write_all(&profile, &request).unwrap();
    let mut names: Vec<String> = written
        .iter()
        .map(|w| w.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "app_20231114_221320.folded",
            "app_20231114_221320.map.json",
            "app_20231114_221320.map.yaml",
            "app_20231114_221320.pb.gz",
            "app_20231114_221320.speedscope.json",
            "app_20231114_221320.svg",
        ]
    );
    let pb = pprof::read_file(&dir.path().join("app_20231114_221320.pb.gz")).unwrap();
    assert_eq!(
        crate::fixture::canonical(&pb),
        crate::fixture::canonical(&profile)
    );
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("app_20231114_221320.map.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["version"], 1);
    // a second write in the same second does not overwrite
    let again = flamewatch_profile::write_all(&profile, &request).unwrap();
    assert!(
        again[0]
            .path
            .to_string_lossy()
            .contains("app_2_20231114_221320")
    );
}

#[test]
fn empty_profile_still_gets_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut profile = flamewatch_profile::Profile::new(vec![
        flamewatch_profile::ValueType::new("cpu", "nanoseconds"),
        flamewatch_profile::ValueType::new("off_cpu", "nanoseconds"),
    ]);
    profile.set_command("./crashes-at-once");
    let request =
        OutputRequest::new(dir.path(), "crash", UNIX_EPOCH).with_formats(Format::ALL.to_vec());
    let written = flamewatch_profile::write_all(&profile, &request).unwrap();
    assert_eq!(written.len(), Format::ALL.len());
    let svg = std::fs::read_to_string(
        &written
            .iter()
            .find(|w| w.format == Format::Svg)
            .unwrap()
            .path,
    )
    .unwrap();
    assert!(svg.contains("no samples were recorded"), "{svg}");
    assert!(svg.contains("flamewatch: ./crashes-at-once"));
}
