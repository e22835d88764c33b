//! Folded stacks: round trips with the model and pprof, golden output, and robustness
//! against random and malformed input.

use crate::fixture;
use flamewatch_profile::folded::{self, FoldedUnit};
use flamewatch_profile::pprof;

#[test]
fn fixture_folds_to_golden() {
    crate::golden(
        "folded",
        "fixture.folded",
        &folded::to_string(&fixture::profile()),
    );
}

#[test]
fn folded_model_folded_round_trip_is_exact() {
    let text = folded::to_string(&fixture::profile());
    let profile = folded::read(&text, FoldedUnit::Nanoseconds).unwrap();
    assert_eq!(folded::to_string(&profile), text);
    // through pprof as well
    let through = pprof::decode(&pprof::encode(&profile)).unwrap();
    assert_eq!(folded::to_string(&through), text);
    // counts keep their off-CPU reason as a label
    let counted = folded::read(&text, FoldedUnit::Samples).unwrap();
    assert_eq!(folded::to_string(&counted), text);
}

#[test]
fn random_and_malformed_input_never_panics_and_errors_name_the_line() {
    let valid = folded::to_string(&fixture::profile());
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: &[u8] = b"ab;; \t\n0123456789-_[]k:#\r\xff";
    for round in 0..3000 {
        let input: Vec<u8> = if round % 2 == 0 {
            let mut bytes = valid.as_bytes().to_vec();
            for _ in 0..(next() % 6 + 1) {
                let i = (next() as usize) % bytes.len();
                bytes[i] = alphabet[(next() as usize) % alphabet.len()];
            }
            bytes
        } else {
            (0..(next() % 120))
                .map(|_| alphabet[(next() as usize) % alphabet.len()])
                .collect()
        };
        let text = String::from_utf8_lossy(&input);
        for unit in [FoldedUnit::Samples, FoldedUnit::Nanoseconds] {
            match folded::read(&text, unit) {
                Ok(p) => {
                    // whatever parsed must write and parse again
                    let out = folded::to_string(&p);
                    folded::read(&out, unit).unwrap();
                }
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.starts_with("folded stacks line ") || msg.contains("no stacks"),
                        "{msg}"
                    );
                }
            }
        }
    }
}

#[test]
fn error_reports_the_offending_line_number() {
    let text = "main;a 1\nmain;b 2\nmain;c two\n";
    let err = folded::read(text, FoldedUnit::Samples).unwrap_err();
    assert_eq!(
        err.to_string(),
        "folded stacks line 3: weight `two` is not a non-negative integer"
    );
}
