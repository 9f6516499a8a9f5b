//! One batch: which of its commands were written, which lost their race.

use std::collections::HashMap;

use cqrs_es::persist::SerializedEvent;

use super::sql::{self, Written};
use crate::store::EventStore;

/// What became of one command's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// All of them were committed; the global position of the last.
    At(i64),
    /// Another writer had taken the command's sequence numbers first; nothing
    /// of the command was written.
    Conflict,
}

/// Writes the commands' events in one statement and returns one outcome per
/// command, in order.
///
/// Rows whose key `(aggregate_type, aggregate_id, sequence)` is taken are
/// skipped by the statement (`ON CONFLICT DO NOTHING`) and their command is a
/// [`Appended::Conflict`]. A command of several events must be written whole or
/// not at all: when a batch holds one, the statement runs in a transaction, and
/// if such a command was only partly written the transaction is rolled back and
/// the batch written again without it.
pub(super) async fn append(
    store: &EventStore,
    commands: &[&[SerializedEvent]],
) -> Result<Vec<Appended>, sqlx::Error> {
    let mut lost = vec![false; commands.len()];
    loop {
        let rows: Vec<&SerializedEvent> = included(commands, &lost).flatten().collect();
        if rows.is_empty() {
            return Ok(vec![Appended::Conflict; commands.len()]);
        }
        let atomic = included(commands, &lost).any(|events| events.len() > 1);
        let mut outcomes = Vec::new();
        let mut partly_written = Vec::new();
        let committed = sql::insert(store, &rows, atomic, |written| {
            (outcomes, partly_written) = sort_out(commands, &lost, written);
            partly_written.is_empty()
        })
        .await?;
        if committed {
            return Ok(outcomes);
        }
        for i in partly_written {
            lost[i] = true;
        }
    }
}

/// The commands not yet known to have lost.
fn included<'a>(
    commands: &'a [&'a [SerializedEvent]],
    lost: &'a [bool],
) -> impl Iterator<Item = &'a [SerializedEvent]> + 'a {
    commands
        .iter()
        .zip(lost)
        .filter(|(_, lost)| !**lost)
        .map(|(events, _)| *events)
}

/// Each command's outcome given the rows the statement wrote, and the indices
/// of the commands written only in part. Rows are inserted in the batch's
/// order, so when two commands of one batch carry the same key, the first one
/// wrote it: each written row is claimed by the first command that carries it.
fn sort_out(
    commands: &[&[SerializedEvent]],
    lost: &[bool],
    written: &[Written],
) -> (Vec<Appended>, Vec<usize>) {
    let mut positions: HashMap<(&str, &str, i64), i64> = written
        .iter()
        .map(|w| {
            (
                (
                    w.aggregate_type.as_str(),
                    w.aggregate_id.as_str(),
                    w.sequence,
                ),
                w.position,
            )
        })
        .collect();
    let mut outcomes = Vec::with_capacity(commands.len());
    let mut partly_written = Vec::new();
    for (i, (events, lost)) in commands.iter().zip(lost).enumerate() {
        if *lost {
            outcomes.push(Appended::Conflict);
            continue;
        }
        let found: Vec<i64> = events
            .iter()
            .filter_map(|e| {
                positions.remove(&(
                    e.aggregate_type.as_str(),
                    e.aggregate_id.as_str(),
                    sql::sequence(e),
                ))
            })
            .collect();
        match found.iter().max() {
            Some(&last) if found.len() == events.len() => outcomes.push(Appended::At(last)),
            None => outcomes.push(Appended::Conflict),
            Some(_) => {
                partly_written.push(i);
                outcomes.push(Appended::Conflict);
            }
        }
    }
    (outcomes, partly_written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(id: &str, sequence: usize) -> SerializedEvent {
        SerializedEvent::new(
            id.to_owned(),
            sequence,
            "Vote".to_owned(),
            "VoteCast".to_owned(),
            "1".to_owned(),
            json!({}),
            json!({}),
        )
    }

    fn written(id: &str, sequence: i64, position: i64) -> Written {
        Written {
            aggregate_type: "Vote".to_owned(),
            aggregate_id: id.to_owned(),
            sequence,
            position,
        }
    }

    #[test]
    fn a_command_is_written_lost_or_partly_written() {
        let a = [event("a", 1)];
        let b = [event("b", 3)];
        let c = [event("c", 1), event("c", 2)];
        let commands: Vec<&[SerializedEvent]> = vec![&a, &b, &c];
        let lost = [false, false, false];

        let all = [
            written("a", 1, 10),
            written("b", 3, 11),
            written("c", 1, 12),
            written("c", 2, 13),
        ];
        let (outcomes, partly) = sort_out(&commands, &lost, &all);
        assert_eq!(
            outcomes,
            vec![Appended::At(10), Appended::At(11), Appended::At(13)]
        );
        assert!(partly.is_empty());

        let some = [written("a", 1, 10), written("c", 2, 13)];
        let (outcomes, partly) = sort_out(&commands, &lost, &some);
        assert_eq!(outcomes[0], Appended::At(10));
        assert_eq!(outcomes[1], Appended::Conflict, "b wrote nothing: it lost");
        assert_eq!(partly, vec![2], "c wrote one of its two events");
    }

    #[test]
    fn of_two_commands_with_one_key_the_first_wrote_it() {
        let first = [event("a", 1)];
        let second = [event("a", 1)];
        let commands: Vec<&[SerializedEvent]> = vec![&first, &second];
        let (outcomes, _) = sort_out(&commands, &[false, false], &[written("a", 1, 10)]);
        assert_eq!(outcomes, vec![Appended::At(10), Appended::Conflict]);
    }

    #[test]
    fn a_command_already_lost_stays_lost() {
        let a = [event("a", 1)];
        let commands: Vec<&[SerializedEvent]> = vec![&a];
        let (outcomes, _) = sort_out(&commands, &[true], &[written("a", 1, 10)]);
        assert_eq!(outcomes, vec![Appended::Conflict]);
    }
}
