//! Helpers for metrics tests: a parser of the Prometheus text exposition format, scrapes of
//! `/metrics`, and what moved between two scrapes.

use std::collections::{BTreeMap, HashMap};

use crate::helpers::TestApp;

pub type Labels = BTreeMap<String, String>;
/// A series (name and labels) and how much it moved.
pub type Moves = BTreeMap<(String, Labels), f64>;
/// An expected move: name, labels, delta.
pub type Move<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

/// One scrape of `/metrics`, parsed from the text exposition format.
#[derive(Debug)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    /// `# TYPE` of each metric family.
    types: HashMap<String, String>,
}

impl Scrape {
    pub fn parse(text: &str) -> Self {
        let mut samples = Vec::new();
        let mut types = HashMap::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(declaration) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declaration.split_once(' ').expect("TYPE name kind");
                types.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') {
                samples.push(parse_sample(line));
            }
        }
        Self { samples, types }
    }

    /// The value of the series `name{labels}` (exactly these labels); 0 when it is absent,
    /// as an unregistered counter is.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted = labels_of(labels);
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map_or(0.0, |s| s.value)
    }

    /// Every counter series and every histogram's `_count`, by name and labels.
    fn counts(&self) -> Moves {
        self.samples
            .iter()
            .filter(|s| {
                let histogram_count = s
                    .name
                    .strip_suffix("_count")
                    .is_some_and(|base| self.kind(base) == Some("histogram"));
                self.kind(&s.name) == Some("counter") || histogram_count
            })
            .map(|s| ((s.name.clone(), s.labels.clone()), s.value))
            .collect()
    }

    pub fn kind(&self, name: &str) -> Option<&str> {
        self.types.get(name).map(String::as_str)
    }

    pub fn label_values(&self) -> impl Iterator<Item = &str> {
        self.samples
            .iter()
            .flat_map(|s| s.labels.values().map(String::as_str))
    }
}

fn labels_of(labels: &[(&str, &str)]) -> Labels {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Parses `name{key="value",…} value`, with the format's escapes (`\\`, `\"`, `\n`) in values.
fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).expect("a sample has a value");
    let name = line[..name_end].to_owned();
    let mut labels = Labels::new();
    let mut rest = &line[name_end..];
    if let Some(after_brace) = rest.strip_prefix('{') {
        let mut chars = after_brace.char_indices().peekable();
        loop {
            while chars.next_if(|(_, c)| *c == ',' || *c == ' ').is_some() {}
            let (start, c) = chars.next().expect("unterminated label set");
            if c == '}' {
                rest = &after_brace[start + 1..];
                break;
            }
            let mut key = c.to_string();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(other) => value.push(other),
                        None => panic!("dangling escape in {line}"),
                    },
                    c => value.push(c),
                }
            }
            labels.insert(key, value);
        }
    }
    let value = rest.split_whitespace().next().expect("a value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().unwrap_or_else(|_| panic!("value of {line}")),
    };
    Sample {
        name,
        labels,
        value,
    }
}

impl TestApp {
    /// Scrapes `/metrics` on the main listener and checks its format.
    pub async fn scrape(&self) -> Scrape {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        Scrape::parse(&response.text().await.unwrap())
    }
}

/// What moved between two scrapes: every counter series whose value changed, and by how much.
pub fn moved(before: &Scrape, after: &Scrape) -> Moves {
    let earlier = before.counts();
    after
        .counts()
        .into_iter()
        .filter_map(|(series, value)| {
            let delta = value - earlier.get(&series).copied().unwrap_or(0.0);
            (delta != 0.0).then_some((series, delta))
        })
        .collect()
}

pub fn expected(entries: &[Move<'_>]) -> Moves {
    entries
        .iter()
        .map(|(name, labels, delta)| (((*name).to_owned(), labels_of(labels)), *delta))
        .collect()
}

/// The moves of `count` answers of one route with one status: its
/// `tokenmint_http_requests_total` and its `tokenmint_http_request_duration_seconds_count`.
pub fn answered(route: &str, method: &str, status: &str, count: f64) -> Moves {
    let with_status = [("route", route), ("method", method), ("status", status)];
    expected(&[
        ("tokenmint_http_requests_total", &with_status, count),
        (
            "tokenmint_http_request_duration_seconds_count",
            &with_status[..2],
            count,
        ),
    ])
}

pub fn assert_moved(actual: &Moves, wanted: &Moves) {
    let show = |m: &Moves| {
        m.iter()
            .map(|((name, labels), delta)| format!("  {name}{labels:?} +{delta}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        actual == wanted,
        "moved:\n{}\nexpected:\n{}",
        show(actual),
        show(wanted)
    );
}

#[test]
fn the_parser_reads_escaped_label_values() {
    let sample = parse_sample(r#"m_total{a="x\"y",b="back\\slash",c="line\nbreak"} 3"#);
    assert_eq!(sample.name, "m_total");
    assert_eq!(sample.labels["a"], "x\"y");
    assert_eq!(sample.labels["b"], "back\\slash");
    assert_eq!(sample.labels["c"], "line\nbreak");
    assert_eq!(sample.value, 3.0);
    assert_eq!(parse_sample("plain 1.5e3").value, 1500.0);
}
