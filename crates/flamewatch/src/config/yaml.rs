//! A small YAML document tree that remembers the line of every node.
//!
//! Serde-based YAML readers lose positions once a value is deserialized, yet a good error must
//! name the line of the key at fault even for checks that span several keys. This module turns
//! the event stream of `saphyr-parser` (a pure-Rust YAML 1.2 parser) into a [`Node`] tree with
//! line numbers, resolving anchors, aliases and `<<` merge keys, and rejecting duplicate keys.
//!
//! Untrusted input is bounded: nesting deeper than [`MAX_DEPTH`] and documents expanding to more
//! than [`MAX_NODES`] nodes (alias bombs) are rejected instead of exhausting the stack or memory.

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use std::collections::HashMap;

/// Deepest nesting of mappings and sequences accepted.
pub(crate) const MAX_DEPTH: usize = 64;
/// Most nodes a document may expand to, aliases included.
pub(crate) const MAX_NODES: usize = 100_000;

/// One YAML node and the 1-based line where it starts (0 when it did not come from text).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) data: Data,
    pub(crate) line: usize,
}

/// The content of a node.
#[derive(Debug, Clone)]
pub(crate) enum Data {
    /// A scalar; `plain` is false for quoted and block scalars (and `!!str`), which are always
    /// strings.
    Scalar { text: String, plain: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A plain scalar without position (used for environment values).
    pub(crate) fn plain(text: &str) -> Node {
        Node {
            data: Data::Scalar {
                text: text.to_owned(),
                plain: true,
            },
            line: 0,
        }
    }

    /// Whether the node is a YAML null (`~`, `null`, or nothing at all).
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.data, Data::Scalar { text, plain: true } if is_null_text(text))
    }

    /// A short description of the node's type for error messages.
    pub(crate) fn describe(&self) -> String {
        match &self.data {
            Data::Scalar { .. } if self.is_null() => "null".to_owned(),
            Data::Scalar { text, plain } => {
                let shown: String = text.chars().take(40).collect();
                let ell = if text.chars().count() > 40 { "…" } else { "" };
                if *plain {
                    format!("`{shown}{ell}`")
                } else {
                    format!("the string \"{shown}{ell}\"")
                }
            }
            Data::Seq(_) => "a list".to_owned(),
            Data::Map(_) => "a mapping".to_owned(),
        }
    }

    fn depth(&self) -> usize {
        match &self.data {
            Data::Scalar { .. } => 0,
            Data::Seq(items) => 1 + items.iter().map(Node::depth).max().unwrap_or(0),
            Data::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.depth().max(v.depth()))
                    .max()
                    .unwrap_or(0)
            }
        }
    }

    fn count(&self) -> usize {
        match &self.data {
            Data::Scalar { .. } => 1,
            Data::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            Data::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.count() + v.count())
                    .sum::<usize>()
            }
        }
    }

    /// The text of a scalar key, if this node is one.
    pub(crate) fn key_text(&self) -> Option<&str> {
        match &self.data {
            Data::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// YAML null spellings of the core schema.
pub(crate) fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A YAML syntax or structure error at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub(crate) line: usize,
    pub(crate) reason: String,
}

fn err(line: usize, reason: impl Into<String>) -> YamlError {
    YamlError {
        line,
        reason: reason.into(),
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        line: usize,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        line: usize,
        anchor: usize,
    },
}

/// Parses YAML text holding at most one document. An empty stream yields a null node.
pub(crate) fn parse(text: &str) -> Result<Node, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut nodes = 0usize;

    while let Some(event) = parser.next_event() {
        let (event, span): (Event<'_>, Span) =
            event.map_err(|e| err(e.marker().line(), format!("invalid YAML: {}", e.info())))?;
        let line = span.start.line();
        match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(err(
                        line,
                        "only one YAML document is supported; remove the extra `---` document",
                    ));
                }
            }
            Event::Alias(id) => {
                let Some(node) = anchors.get(&id) else {
                    return Err(err(
                        line,
                        "alias refers to an anchor that is not defined before it",
                    ));
                };
                if stack.len() + node.depth() > MAX_DEPTH {
                    return Err(err(line, format!("nesting deeper than {MAX_DEPTH} levels")));
                }
                nodes += node.count();
                if nodes > MAX_NODES {
                    return Err(err(
                        line,
                        format!("document expands to more than {MAX_NODES} nodes"),
                    ));
                }
                let mut node = node.clone();
                node.line = line;
                attach(node, &mut stack, &mut root, &mut anchors, 0)?;
            }
            Event::Scalar(value, style, anchor, tag) => {
                nodes += 1;
                if nodes > MAX_NODES {
                    return Err(err(
                        line,
                        format!("document expands to more than {MAX_NODES} nodes"),
                    ));
                }
                let mut plain = style == ScalarStyle::Plain;
                if let Some(tag) = tag.as_deref() {
                    plain = scalar_tag(tag).map_err(|r| err(line, r))?;
                }
                let node = Node {
                    data: Data::Scalar {
                        text: value.into_owned(),
                        plain,
                    },
                    line,
                };
                attach(node, &mut stack, &mut root, &mut anchors, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "seq").map_err(|r| err(line, r))?;
                nodes += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(err(line, format!("nesting deeper than {MAX_DEPTH} levels")));
                }
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    line,
                    anchor,
                });
            }
            Event::MappingStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "map").map_err(|r| err(line, r))?;
                nodes += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(err(line, format!("nesting deeper than {MAX_DEPTH} levels")));
                }
                stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    line,
                    anchor,
                });
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    line,
                    anchor,
                }) => {
                    attach(
                        Node {
                            data: Data::Seq(items),
                            line,
                        },
                        &mut stack,
                        &mut root,
                        &mut anchors,
                        anchor,
                    )?;
                }
                _ => return Err(err(line, "unbalanced end of list")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    entries,
                    line,
                    anchor,
                    ..
                }) => {
                    let entries = finish_map(entries)?;
                    attach(
                        Node {
                            data: Data::Map(entries),
                            line,
                        },
                        &mut stack,
                        &mut root,
                        &mut anchors,
                        anchor,
                    )?;
                }
                _ => return Err(err(line, "unbalanced end of mapping")),
            },
        }
    }
    Ok(root.unwrap_or(Node {
        data: Data::Scalar {
            text: String::new(),
            plain: true,
        },
        line: 1,
    }))
}

/// Resolves a scalar's tag: returns whether it is to be read as a plain (typed) scalar.
fn scalar_tag(tag: &Tag) -> Result<bool, String> {
    if tag.is_yaml_core_schema() {
        match tag.suffix.as_str() {
            "str" => Ok(false),
            "int" | "float" | "bool" | "null" => Ok(true),
            other => Err(format!("unsupported tag `!!{other}` on a scalar")),
        }
    } else if tag.handle == "!" && tag.suffix.is_empty() {
        // The non-specific tag `!` forces a string.
        Ok(false)
    } else {
        Err(format!(
            "unsupported tag `{tag}`; flamewatch reads plain YAML values"
        ))
    }
}

fn check_collection_tag(tag: Option<&Tag>, expected: &str) -> Result<(), String> {
    match tag {
        None => Ok(()),
        Some(t) if t.is_yaml_core_schema() && t.suffix == expected => Ok(()),
        Some(t) => Err(format!(
            "unsupported tag `{t}`; flamewatch reads plain YAML values"
        )),
    }
}

fn attach(
    node: Node,
    stack: &mut [Frame],
    root: &mut Option<Node>,
    anchors: &mut HashMap<usize, Node>,
    anchor: usize,
) -> Result<(), YamlError> {
    if anchor != 0 {
        anchors.insert(anchor, node.clone());
    }
    match stack.last_mut() {
        None => {
            if root.is_none() {
                *root = Some(node);
            }
        }
        Some(Frame::Seq { items, .. }) => items.push(node),
        Some(Frame::Map { entries, key, .. }) => match key.take() {
            None => {
                if !matches!(node.data, Data::Scalar { .. }) {
                    return Err(err(
                        node.line,
                        "mapping keys must be plain names, not lists or mappings",
                    ));
                }
                *key = Some(node);
            }
            Some(k) => entries.push((k, node)),
        },
    }
    Ok(())
}

/// Applies `<<` merge keys and rejects duplicate keys.
fn finish_map(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, YamlError> {
    let mut own: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        let is_merge = matches!(&k.data, Data::Scalar { text, plain: true } if text == "<<");
        if !is_merge {
            if let Some((first, _)) = own.iter().find(|(o, _)| o.key_text() == k.key_text()) {
                return Err(err(
                    k.line,
                    format!(
                        "duplicate key `{}` (first defined at line {}); keep only one",
                        k.key_text().unwrap_or_default(),
                        first.line
                    ),
                ));
            }
            own.push((k, v));
            continue;
        }
        let sources: Vec<Node> = match v.data {
            Data::Map(_) => vec![v],
            Data::Seq(items) => items,
            Data::Scalar { .. } => {
                return Err(err(
                    v.line,
                    "a `<<` merge key needs a mapping or a list of mappings",
                ));
            }
        };
        for source in sources {
            let Data::Map(src_entries) = source.data else {
                return Err(err(
                    source.line,
                    "a `<<` merge key needs a mapping or a list of mappings",
                ));
            };
            for (sk, sv) in src_entries {
                if !merged.iter().any(|(m, _)| m.key_text() == sk.key_text()) {
                    merged.push((sk, sv));
                }
            }
        }
    }
    for (mk, mv) in merged {
        if !own.iter().any(|(o, _)| o.key_text() == mk.key_text()) {
            own.push((mk, mv));
        }
    }
    Ok(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_keys(node: &Node) -> Vec<(String, usize)> {
        match &node.data {
            Data::Map(e) => e
                .iter()
                .map(|(k, _)| (k.key_text().unwrap().to_owned(), k.line))
                .collect(),
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn keys_keep_their_lines() {
        let n = parse("# comment\nenabled: true\n\noutput:\n  type: file\n").unwrap();
        assert_eq!(
            map_keys(&n),
            vec![("enabled".into(), 2), ("output".into(), 4)]
        );
    }

    #[test]
    fn anchors_and_merge_keys_resolve() {
        let n = parse("base: &b\n  a: 1\n  b: 2\nother:\n  <<: *b\n  b: 3\n").unwrap();
        let Data::Map(e) = &n.data else { panic!() };
        let other = &e[1].1;
        let Data::Map(oe) = &other.data else { panic!() };
        let pairs: Vec<_> = oe
            .iter()
            .map(|(k, v)| {
                (
                    k.key_text().unwrap().to_owned(),
                    v.key_text().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            vec![("b".into(), "3".into()), ("a".into(), "1".into())]
        );
    }

    #[test]
    fn duplicates_depth_and_bombs_are_rejected() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.reason
                .contains("duplicate key `a` (first defined at line 1)"),
            "{}",
            e.reason
        );
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&deep).unwrap_err().reason.contains("nesting deeper"));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_owned()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(parse(&bomb).unwrap_err().reason.contains("more than"));
        assert!(
            parse("a: 1\n---\nb: 2\n")
                .unwrap_err()
                .reason
                .contains("one YAML document")
        );
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let e = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        assert!(e.reason.starts_with("invalid YAML"));
    }
}
