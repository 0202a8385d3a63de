//! Label and metric names, as Prometheus 2.42's `model.LabelName.IsValid` and
//! `model.IsValidMetricName` read them (ASCII only; UTF-8 names came with 3.0).

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prometheus_grammar() {
        for ok in [
            "a",
            "_",
            "_x",
            "juju_unit",
            "A9_",
            "cluster",
            "Env_2",
            "__x",
        ] {
            assert!(is_label_name(ok), "{ok}");
            assert!(is_metric_name(ok), "{ok}");
        }
        for bad in ["", "9a", "1a", "a-b", "a.b", "é", "a b", "a:b", "a\n"] {
            assert!(!is_label_name(bad), "{bad}");
        }
        assert!(is_metric_name("job:up:rate5m"));
        assert!(is_metric_name(":x"));
        for bad in ["", "1up", "a-b", "é", "a b"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
    }
}
