//! One remote application must not take everything down. Kubernetes keeps the rendered files
//! in one ConfigMap (at most 1 MiB); were a relation's jobs and rules to push them past it, the
//! whole spec could not be applied and good changes made in the same hook would be lost with
//! it. So each relation's contribution is measured as it comes, the oldest relation first
//! (Juju numbers relations in creation order), and one that would not fit in what is left is
//! left out whole: reported to it and logged, while everything else applies.

use super::{Contribution, RelationSnapshot};

/// Bytes the rendered YAML of `part`'s jobs and rule files takes (what it adds to the files).
pub fn size(part: &Contribution) -> usize {
    let yaml_len = |text: Result<String, crate::yaml::YamlError>| text.map_or(0, |t| t.len());
    let jobs = if part.scrape_configs.is_empty() {
        0
    } else {
        yaml_len(crate::yaml::to_string(&part.scrape_configs))
    };
    let rules: usize = part
        .rule_files
        .iter()
        .map(|(_, file)| yaml_len(crate::yaml::to_string(&file.groups)))
        .sum();
    jobs + rules
}

/// The relations in the order Juju created them (relation ids grow; `relation-ids` sorts them
/// as text, so `:10` would come before `:9`).
pub fn oldest_first<'a>(
    relations: impl IntoIterator<Item = &'a RelationSnapshot>,
) -> Vec<&'a RelationSnapshot> {
    let mut ordered: Vec<&RelationSnapshot> = relations.into_iter().collect();
    ordered.sort_by_key(|r| r.id.as_ref().map(|id| id.id));
    ordered
}

/// Why a contribution of `size` bytes was left out, for the log and the sender.
pub fn refusal(size: usize, room: usize, total: usize) -> String {
    format!(
        "left out whole: its scrape jobs and alert rules would add {size} bytes to the \
         configuration, but only {room} of the {total} bytes Kubernetes holds in one ConfigMap \
         remain after the relations before it"
    )
}
