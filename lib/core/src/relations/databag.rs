//! What we write to our own databags: only the keys whose value changed, so an unchanged
//! model costs no `relation-set` (and no `-relation-changed` storm on the other side).

use juju::{RelationData, RelationId};

use super::{Publish, RelationSnapshot};

/// The write needed to make our unit's (`app == false`) or application's bag on `snapshot`
/// hold `desired`, or `None` when it already does (or the relation id is unknown).
pub(super) fn publish(
    snapshot: &RelationSnapshot,
    app: bool,
    desired: RelationData,
) -> Option<Publish> {
    let relation: RelationId = snapshot.id.clone()?;
    let current = if app {
        &snapshot.local_app_data
    } else {
        &snapshot.local_unit_data
    };
    let data: RelationData = desired
        .into_iter()
        .filter(|(k, v)| current.get(k) != Some(v))
        .collect();
    (!data.is_empty()).then_some(Publish {
        relation,
        app,
        data,
    })
}

/// Builds a databag from `(key, value)` pairs.
pub(super) fn bag<const N: usize>(pairs: [(&str, String); N]) -> RelationData {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_keys_are_written() {
        let snapshot = RelationSnapshot {
            id: Some(RelationId::new("grafana-source", 3)),
            local_unit_data: bag([("port", "9090".into()), ("source-type", "old".into())]),
            ..RelationSnapshot::default()
        };
        let desired = bag([
            ("port", "9090".into()),
            ("source-type", "prometheus".into()),
        ]);
        let p = publish(&snapshot, false, desired.clone()).unwrap();
        assert_eq!(p.data, bag([("source-type", "prometheus".into())]));
        assert!(!p.app);

        let settled = RelationSnapshot {
            local_unit_data: desired.clone(),
            ..snapshot.clone()
        };
        assert_eq!(publish(&settled, false, desired.clone()), None);
        let no_id = RelationSnapshot {
            id: None,
            ..snapshot
        };
        assert_eq!(publish(&no_id, false, desired), None);
    }
}
