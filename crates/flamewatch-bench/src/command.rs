//! What is run: an argv executed directly, or a command line handed to `sh -c` with `--shell`.
//!
//! Commands given as one string (`flamewatch bench 'sort -n big.txt'`) are split into words
//! with POSIX shell quoting rules (single quotes, double quotes, backslash escapes) but no
//! expansion of any kind, so no shell is involved unless the user asks for one.

use serde::{Deserialize, Serialize};

/// A command to benchmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// Program and arguments as executed (`["sh", "-c", line]` in shell mode).
    pub argv: Vec<String>,
    /// The command as the user wrote it, for reports.
    pub display: String,
    /// Whether the command runs through a shell.
    pub shell: bool,
}

impl CommandSpec {
    /// A command given as separate words, executed directly.
    pub fn from_argv(argv: Vec<String>) -> crate::Result<Self> {
        if argv.is_empty() || argv[0].is_empty() {
            return Err(crate::Error::BadCommand {
                command: String::new(),
                reason: "no program given; put the command after `--`".into(),
            });
        }
        let display = argv
            .iter()
            .map(|w| quote_word(w))
            .collect::<Vec<_>>()
            .join(" ");
        Ok(CommandSpec {
            argv,
            display,
            shell: false,
        })
    }

    /// A command line: split into words (no shell), or passed to `shell -c` when `shell` is set.
    pub fn from_line(line: &str, shell: Option<&str>) -> crate::Result<Self> {
        match shell {
            Some(sh) => {
                if line.trim().is_empty() {
                    return Err(crate::Error::BadCommand {
                        command: line.into(),
                        reason: "empty command".into(),
                    });
                }
                Ok(CommandSpec {
                    argv: vec![sh.to_owned(), "-c".into(), line.to_owned()],
                    display: line.to_owned(),
                    shell: true,
                })
            }
            None => {
                let argv = split_words(line)?;
                let mut spec = CommandSpec::from_argv(argv)?;
                spec.display = line.to_owned();
                Ok(spec)
            }
        }
    }
}

/// Splits a command line into words following POSIX quoting, without any expansion.
///
/// ```
/// use flamewatch_bench::command::split_words;
/// assert_eq!(split_words(r#"grep -c 'a b' "c\"d" e\ f"#).unwrap(),
///            vec!["grep", "-c", "a b", "c\"d", "e f"]);
/// ```
pub fn split_words(line: &str) -> crate::Result<Vec<String>> {
    let bad = |reason: &str| crate::Error::BadCommand {
        command: line.to_owned(),
        reason: reason.to_owned(),
    };
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(bad("unterminated single quote")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(bad("unterminated double quote")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(bad("unterminated double quote")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => cur.push(c),
                    None => return Err(bad("trailing backslash")),
                }
            }
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '`' | '$' | '*' | '?' => {
                return Err(bad(&format!(
                    "`{c}` needs a shell; pass --shell to run the command through sh -c"
                )));
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err(bad("empty command"));
    }
    Ok(words)
}

/// Quotes a word for display so that [`split_words`] reads it back unchanged.
pub fn quote_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        w.to_owned()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_metacharacters_need_shell() {
        let err = split_words("ls | wc").unwrap_err().to_string();
        assert!(err.contains("--shell"), "{err}");
        let spec = CommandSpec::from_line("ls | wc", Some("sh")).unwrap();
        assert_eq!(spec.argv, vec!["sh", "-c", "ls | wc"]);
    }

    #[test]
    fn quoting_round_trips() {
        let words = vec![
            "a b".to_string(),
            "it's".into(),
            "plain".into(),
            String::new(),
        ];
        let line = words
            .iter()
            .map(|w| quote_word(w))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(split_words(&line).unwrap(), words);
        assert!(split_words("'open").is_err());
        assert!(split_words("   ").is_err());
    }
}
