//! A strict reader of the Prometheus text format (version 0.0.4), for tests and
//! [`Metrics::counter`](super::Metrics::counter): it checks what a scraper relies on (every
//! sample belongs to a family declared by `# TYPE` before it, names and label names are valid,
//! label values are properly quoted and escaped, values are numbers, no series repeats) and
//! returns the samples.

use std::collections::{HashMap, HashSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Parses `text`, or says which line is wrong and why.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut seen = HashSet::new();
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let fail = |why: &str| format!("line {}: {why}: {line:?}", number + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !is_metric_name(name) {
                        return Err(fail("invalid metric name"));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(fail("unknown metric type"));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(fail("family declared twice"));
                    }
                }
                (Some("HELP"), Some(name), _) if !is_metric_name(name) => {
                    return Err(fail("invalid metric name"));
                }
                _ => {}
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|why| fail(&why))?;
        let family = family_of(&sample, &types).ok_or_else(|| fail("no # TYPE declares it"))?;
        if types[family] == "histogram"
            && sample.name.ends_with("_bucket")
            && sample.label("le").is_none()
        {
            return Err(fail("a histogram bucket without `le`"));
        }
        let mut key = sample.labels.clone();
        key.sort();
        if !seen.insert((sample.name.clone(), key)) {
            return Err(fail("series repeated"));
        }
        samples.push(sample);
    }
    Ok(samples)
}

/// The sum of the samples named `name` whose labels include every pair of `labels`.
pub fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| labels.iter().all(|(k, v)| s.label(k) == Some(v)))
        .map(|s| s.value)
        .sum()
}

fn family_of<'a>(sample: &Sample, types: &'a HashMap<String, String>) -> Option<&'a String> {
    if let Some((name, _)) = types.get_key_value(&sample.name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = sample.name.strip_suffix(suffix)?;
        let (name, kind) = types.get_key_value(base)?;
        (kind == "histogram" || kind == "summary").then_some(name)
    })
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err("invalid metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(body)?;
        labels = parsed;
        rest = after;
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        number => number.parse().map_err(|_| "the value is not a number")?,
    };
    // An optional timestamp (integer milliseconds), nothing after it.
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| "the timestamp is not an integer")?;
    }
    if fields.next().is_some() {
        return Err("text after the value".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses `name="value",...}` and returns the labels and what follows the `}`.
#[allow(clippy::type_complexity)]
fn parse_labels(mut body: &str) -> Result<(Vec<(String, String)>, &str), String> {
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        if let Some(after) = body.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = body.find('=').ok_or("a label without `=`")?;
        let name = &body[..eq];
        if !is_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        if labels.iter().any(|(k, _)| k == name) {
            return Err(format!("label {name:?} repeated"));
        }
        let mut chars = body[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err("a label value must be quoted".into());
        }
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break eq + 1 + i + 1,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err("an invalid escape in a label value".into()),
                },
                Some((_, '\n')) | None => return Err("an unterminated label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        body = &body[end..];
        if let Some(after) = body.strip_prefix(',') {
            body = after;
        } else if !body.starts_with('}') {
            return Err("labels must be separated by `,`".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_families_and_samples() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"\\\\\\n\"} 2\n\
                    # TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].label("y"), Some("q\"\\\n"));
        assert_eq!(sum(&samples, "a_total", &[("x", "1")]), 2.0);
    }

    #[test]
    fn refuses_what_a_scraper_would() {
        for bad in [
            "undeclared 1\n",
            "# TYPE a counter\na{x=\"1\" 1\n",
            "# TYPE a counter\na{x=1} 1\n",
            "# TYPE a counter\na one\n",
            "# TYPE a counter\na 1\na 2\n",
            "# TYPE h histogram\nh_bucket 1\n",
            "# TYPE a counter\na{x=\"\\q\"} 1\n",
            "# TYPE a counter\n# TYPE a gauge\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
