//! Fuzzing on stable Rust, in `make test`, for a bounded number of cases: a small mutator
//! (deterministic, so a failure replays) turns known-good relation data, image resource
//! files, durations and URLs into hostile variants, and checks that nothing panics and that
//! whatever we accept, real `promtool` accepts (one promtool run per target: its start-up is
//! most of its cost). The PromQL and template parsers have their own generated tests.

use std::collections::BTreeSet;

use super::promtool_tests::every_dialect;
use super::test_support::Rng;
use super::{plan, RelationsInput};
use crate::config::test_config;
use crate::prometheus::config::{PrometheusConfig, RemoteWriteConfig, Rule, RuleFile, RuleGroup};
use crate::prometheus::render::{render, Rendered, RULES_FILE};

/// Pieces that have broken parsers before: JSON and YAML structure, escapes, expansions,
/// reserved labels, numbers and durations at Go's edges, credentials, control characters.
const TOKENS: [&str; 40] = [
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "$1",
    "${1}",
    "_${1}",
    "__address__",
    "__scrape_interval__",
    "\\u0000",
    "\\n",
    "\n",
    "%",
    "%zz",
    "@",
    "300y",
    "292y",
    "1e309",
    "-1",
    "9223372036854775808",
    "null",
    "true",
    "\"*:80\"",
    "[::1]:9090",
    "a b",
    "\\u001b[31m",
    "\u{1b}[2J",
    "../",
    "http://u:p@h",
    "0x",
    "\\x+4",
    "(a{30}){40}",
    "'",
    "- ",
    "&a",
    "*a",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(5) {
            0 | 1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                chars.splice(at..at, token.chars());
            }
            2 if at < chars.len() => {
                let end = (at + 1 + rng.below(8)).min(chars.len());
                chars.drain(at..end);
            }
            3 if at < chars.len() => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let end = (at + 1).min(chars.len());
                chars.splice(at..end, token.chars());
            }
            _ => {
                let end = (at + rng.below(16)).min(chars.len());
                let copy: Vec<char> = chars[at..end].to_vec();
                chars.splice(at..at, copy);
            }
        }
    }
    chars.into_iter().collect()
}

/// One relation value of `input` mutated: a random relation, bag and key.
fn mutate_input(rng: &mut Rng, input: &RelationsInput) -> RelationsInput {
    let mut input = input.clone();
    let endpoints: Vec<String> = input.endpoints.keys().cloned().collect();
    let endpoint = &endpoints[rng.below(endpoints.len())];
    let Some(relations) = input.endpoints.get_mut(endpoint) else {
        return input;
    };
    let n = rng.below(relations.len());
    let Some(relation) = relations.get_mut(n) else {
        return input;
    };
    let units: Vec<String> = relation.remote_units.keys().cloned().collect();
    let bag = match rng.below(units.len() + 1) {
        0 => &mut relation.remote_app_data,
        i => match relation.remote_units.get_mut(&units[i - 1]) {
            Some(bag) => bag,
            None => return input,
        },
    };
    let keys: Vec<String> = bag.keys().cloned().collect();
    if let Some(key) = keys.get(rng.below(keys.len())) {
        if let Some(value) = bag.get_mut(key) {
            *value = mutate(rng, value);
        }
    }
    input
}

/// Everything `renderings` accepted, in one configuration: job, group and remote-write
/// names prefixed by the case's number so that they stay unique. Jobs as Prometheus sees
/// them (their file_sd targets back in static configs), since the cases' target files
/// cannot share one set of files; some renderings are also checked whole, files and all.
fn merged(renderings: &[Rendered]) -> Rendered {
    let mut all = Rendered::default();
    all.config.rule_files = vec![RULES_FILE.to_string()];
    let mut alerting = crate::prometheus::config::AlertingConfig::default();
    for (i, r) in renderings.iter().enumerate() {
        for job in &r.effective_scrape_configs() {
            let mut job = job.clone();
            job.job_name = format!("case{i}_{}", job.job_name);
            all.config.scrape_configs.push(job);
        }
        for group in &r.rules.groups {
            all.rules.groups.push(RuleGroup {
                name: format!("case{i}_{}", group.name),
                ..group.clone()
            });
        }
        if let Some(a) = &r.config.alerting {
            for am in &a.alertmanagers {
                let am = am.clone();
                alerting.alertmanagers.push(am);
            }
        }
        all.config
            .remote_write
            .extend(r.config.remote_write.iter().cloned());
    }
    if !alerting.alertmanagers.is_empty() {
        all.config.alerting = Some(alerting);
    }
    all
}

#[test]
fn mutated_relation_data_never_panics_and_what_we_accept_promtool_accepts() {
    let seed = every_dialect();
    let config = test_config(&[]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = Vec::new();
    let mut seen = BTreeSet::new();
    let unit_bags = |relations: &super::RelationsPlan| -> BTreeSet<String> {
        relations
            .publish
            .iter()
            .filter(|p| !p.app)
            .map(|p| p.relation.endpoint.clone())
            .collect()
    };
    assert!(!unit_bags(&plan(&seed)).is_empty());
    for _ in 0..400 {
        let input = mutate_input(&mut rng, &seed);
        let relations = plan(&input);
        // The shell reads our unit's bag only where we write it.
        for endpoint in unit_bags(&relations) {
            assert!(
                super::UNIT_BAG_ENDPOINTS.contains(&endpoint.as_str()),
                "{endpoint}"
            );
        }
        let rendered = render(&config, &relations);
        // Only renderings that differ add anything to check.
        if let Ok(text) = crate::yaml::to_string(&rendered.config) {
            if seen.insert(format!("{text}{:?}", rendered.targets)) {
                accepted.push(rendered);
            }
        }
    }
    assert!(accepted.len() > 50, "the mutator must reach past the seed");
    crate::prometheus::promtool::check_rendered(&merged(&accepted)).unwrap();
    for whole in accepted.iter().step_by(accepted.len() / 4) {
        crate::prometheus::promtool::check_rendered(whole).unwrap();
    }
}

#[test]
fn mutated_image_resources_never_panic_or_leak_the_password() {
    let seed =
        "registrypath: registry.example/p@sha256:0123\nusername: robot\npassword: s3cr3t-pw\n";
    let mut rng = Rng(7);
    for _ in 0..2000 {
        let text = mutate(&mut rng, seed);
        if let Err(e) = crate::image::parse(&text) {
            let message = e.to_string();
            // The password may only be shown where it became the image reference itself.
            let in_path = text
                .lines()
                .any(|l| l.starts_with("registrypath") && l.contains("s3cr3t"));
            assert!(
                in_path || !message.contains("s3cr3t"),
                "{text:?}: {message}"
            );
        }
    }
}

#[test]
fn mutated_durations_and_urls_we_accept_promtool_accepts() {
    let mut rng = Rng(42);
    let mut durations = BTreeSet::new();
    let mut urls = BTreeSet::new();
    for _ in 0..3000 {
        let seed = ["1h30m", "292y", "15s", "500ms", "2w3d"][rng.below(5)];
        let d = mutate(&mut rng, seed);
        if crate::syntax::duration::millis(&d).is_ok() {
            durations.insert(d);
        }
        let u = mutate(&mut rng, "http://mimir-0.mimir:9009/api/v1/push");
        if let Ok(url) = crate::syntax::url::HttpUrl::parse(&u) {
            urls.insert(url.to_string());
        }
    }
    assert!(durations.len() > 20 && urls.len() > 20);
    let rules = RuleFile {
        groups: vec![RuleGroup {
            name: "durations".into(),
            rules: durations
                .iter()
                .enumerate()
                .map(|(i, d)| Rule {
                    alert: Some(format!("D{i}")),
                    expr: "vector(1)".into(),
                    for_: Some(d.clone()),
                    ..Rule::default()
                })
                .collect(),
            ..RuleGroup::default()
        }],
    };
    let config = PrometheusConfig {
        rule_files: vec![RULES_FILE.to_string()],
        remote_write: urls
            .iter()
            .map(|url| RemoteWriteConfig {
                url: url.clone(),
                ..RemoteWriteConfig::default()
            })
            .collect(),
        ..PrometheusConfig::default()
    };
    let no_targets = crate::prometheus::targets::TargetFiles::default();
    crate::prometheus::promtool::check_config(&config, &rules, &no_targets).unwrap();
}
