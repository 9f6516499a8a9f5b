//! The `Meetup` aggregate: a title, a join code, and the switches the organizer
//! controls (Q&A open, moderation, archived).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ids::MeetupId;
use crate::values::{JoinCode, MeetupTitle, OrganizerKeyHash};
use crate::InMeetup;

/// A meetup as the write side knows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meetup {
    /// `None` until `MeetupCreated`.
    pub id: Option<MeetupId>,
    pub title: String,
    pub code: String,
    pub qa_open: bool,
    pub moderated: bool,
    pub archived: bool,
    /// Checked against the key presented with organizer-only requests.
    pub organizer_key_hash: OrganizerKeyHash,
}

/// Changes the organizer may ask for at once; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeetupUpdate {
    pub title: Option<MeetupTitle>,
    pub qa_open: Option<bool>,
    pub moderated: Option<bool>,
    pub archived: Option<bool>,
}

/// What can be asked of a meetup.
#[derive(Debug, Clone, PartialEq)]
pub enum MeetupCommand {
    /// Creates the meetup. Q&A starts open.
    Create {
        id: MeetupId,
        title: MeetupTitle,
        code: JoinCode,
        moderated: bool,
        organizer_key_hash: OrganizerKeyHash,
    },
    /// Renames, opens or closes Q&A, switches moderation, archives — each change
    /// that differs from the current state becomes one event, all or none.
    Update(MeetupUpdate),
}

/// What happened to a meetup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MeetupEvent {
    MeetupCreated {
        id: MeetupId,
        title: String,
        code: String,
        moderated: bool,
        organizer_key_hash: OrganizerKeyHash,
    },
    MeetupRenamed {
        title: String,
    },
    QaOpened,
    QaClosed,
    ModerationEnabled,
    ModerationDisabled,
    MeetupArchived,
}

impl DomainEvent for MeetupEvent {
    fn event_type(&self) -> String {
        match self {
            Self::MeetupCreated { .. } => "MeetupCreated",
            Self::MeetupRenamed { .. } => "MeetupRenamed",
            Self::QaOpened => "QaOpened",
            Self::QaClosed => "QaClosed",
            Self::ModerationEnabled => "ModerationEnabled",
            Self::ModerationDisabled => "ModerationDisabled",
            Self::MeetupArchived => "MeetupArchived",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why a meetup command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeetupError {
    #[error("a meetup with this id already exists")]
    AlreadyExists,
    #[error("no such meetup")]
    NotFound,
    #[error("the meetup is archived and can no longer be changed")]
    Archived,
}

impl Aggregate for Meetup {
    const TYPE: &'static str = "Meetup";
    type Command = MeetupCommand;
    type Event = MeetupEvent;
    type Error = MeetupError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            MeetupCommand::Create {
                id,
                title,
                code,
                moderated,
                organizer_key_hash,
            } => {
                if self.id.is_some() {
                    return Err(MeetupError::AlreadyExists);
                }
                let event = MeetupEvent::MeetupCreated {
                    id,
                    title: title.as_str().to_owned(),
                    code: code.as_str().to_owned(),
                    moderated,
                    organizer_key_hash,
                };
                sink.write(event, self).await;
            }
            MeetupCommand::Update(update) => {
                for event in self.changes(update)? {
                    sink.write(event, self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            MeetupEvent::MeetupCreated {
                id,
                title,
                code,
                moderated,
                organizer_key_hash,
            } => {
                *self = Self {
                    id: Some(id),
                    title,
                    code,
                    qa_open: true,
                    moderated,
                    archived: false,
                    organizer_key_hash,
                }
            }
            MeetupEvent::MeetupRenamed { title } => self.title = title,
            MeetupEvent::QaOpened => self.qa_open = true,
            MeetupEvent::QaClosed => self.qa_open = false,
            MeetupEvent::ModerationEnabled => self.moderated = true,
            MeetupEvent::ModerationDisabled => self.moderated = false,
            MeetupEvent::MeetupArchived => self.archived = true,
        }
    }
}

impl Meetup {
    /// The events an update produces: one per field that actually changes.
    fn changes(&self, update: MeetupUpdate) -> Result<Vec<MeetupEvent>, MeetupError> {
        if self.id.is_none() {
            return Err(MeetupError::NotFound);
        }
        let mut events = Vec::new();
        if let Some(title) = update.title {
            if title.as_str() != self.title {
                events.push(MeetupEvent::MeetupRenamed {
                    title: title.as_str().to_owned(),
                });
            }
        }
        match update.qa_open {
            Some(true) if !self.qa_open => events.push(MeetupEvent::QaOpened),
            Some(false) if self.qa_open => events.push(MeetupEvent::QaClosed),
            _ => {}
        }
        match update.moderated {
            Some(true) if !self.moderated => events.push(MeetupEvent::ModerationEnabled),
            Some(false) if self.moderated => events.push(MeetupEvent::ModerationDisabled),
            _ => {}
        }
        // An archived meetup is read-only: the one request it still accepts is
        // being archived again (a retried archive), which changes nothing.
        let archive_again = update.archived == Some(true) && events.is_empty();
        if self.archived && !archive_again {
            return Err(MeetupError::Archived);
        }
        if update.archived == Some(true) && !self.archived {
            events.push(MeetupEvent::MeetupArchived);
        }
        Ok(events)
    }
}

impl InMeetup for Meetup {
    fn meetup_id(&self) -> Option<MeetupId> {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    type MeetupTest = TestFramework<Meetup>;

    fn id() -> MeetupId {
        MeetupId::from_uuid(uuid::Uuid::from_u128(7))
    }

    fn created() -> MeetupEvent {
        MeetupEvent::MeetupCreated {
            id: id(),
            title: "Rust Tokyo".into(),
            code: "ABC234".into(),
            moderated: false,
            organizer_key_hash: OrganizerKeyHash::new("hash"),
        }
    }

    fn create() -> MeetupCommand {
        MeetupCommand::Create {
            id: id(),
            title: MeetupTitle::parse("Rust Tokyo").expect("valid"),
            code: JoinCode::parse("ABC234").expect("valid"),
            moderated: false,
            organizer_key_hash: OrganizerKeyHash::new("hash"),
        }
    }

    fn update(f: impl FnOnce(&mut MeetupUpdate)) -> MeetupCommand {
        let mut update = MeetupUpdate::default();
        f(&mut update);
        MeetupCommand::Update(update)
    }

    #[test]
    fn creating_a_meetup_records_its_title_code_and_key_hash() {
        MeetupTest::with(())
            .given_no_previous_events()
            .when(create())
            .then_expect_events(vec![created()]);
    }

    #[test]
    fn a_meetup_cannot_be_created_twice() {
        MeetupTest::with(())
            .given(vec![created()])
            .when(create())
            .then_expect_error(MeetupError::AlreadyExists);
    }

    #[test]
    fn renaming_records_the_new_title() {
        let title = MeetupTitle::parse("Rust Osaka").expect("valid");
        MeetupTest::with(())
            .given(vec![created()])
            .when(update(|u| u.title = Some(title)))
            .then_expect_events(vec![MeetupEvent::MeetupRenamed {
                title: "Rust Osaka".into(),
            }]);
    }

    #[test]
    fn renaming_to_the_same_title_records_nothing() {
        let title = MeetupTitle::parse("Rust Tokyo").expect("valid");
        MeetupTest::with(())
            .given(vec![created()])
            .when(update(|u| u.title = Some(title)))
            .then_expect_events(vec![]);
    }

    #[test]
    fn closing_and_reopening_qa_are_recorded() {
        MeetupTest::with(())
            .given(vec![created()])
            .when(update(|u| u.qa_open = Some(false)))
            .then_expect_events(vec![MeetupEvent::QaClosed]);
        MeetupTest::with(())
            .given(vec![created(), MeetupEvent::QaClosed])
            .when(update(|u| u.qa_open = Some(true)))
            .then_expect_events(vec![MeetupEvent::QaOpened]);
    }

    #[test]
    fn opening_an_open_meetup_records_nothing() {
        MeetupTest::with(())
            .given(vec![created()])
            .when(update(|u| u.qa_open = Some(true)))
            .then_expect_events(vec![]);
    }

    #[test]
    fn switching_moderation_on_and_off_is_recorded() {
        MeetupTest::with(())
            .given(vec![created()])
            .when(update(|u| u.moderated = Some(true)))
            .then_expect_events(vec![MeetupEvent::ModerationEnabled]);
        MeetupTest::with(())
            .given(vec![created(), MeetupEvent::ModerationEnabled])
            .when(update(|u| u.moderated = Some(false)))
            .then_expect_events(vec![MeetupEvent::ModerationDisabled]);
    }

    #[test]
    fn several_changes_at_once_become_one_event_each() {
        let title = MeetupTitle::parse("Renamed").expect("valid");
        MeetupTest::with(())
            .given(vec![created()])
            .when(update(|u| {
                u.title = Some(title);
                u.qa_open = Some(false);
                u.moderated = Some(true);
                u.archived = Some(true);
            }))
            .then_expect_events(vec![
                MeetupEvent::MeetupRenamed {
                    title: "Renamed".into(),
                },
                MeetupEvent::QaClosed,
                MeetupEvent::ModerationEnabled,
                MeetupEvent::MeetupArchived,
            ]);
    }

    #[test]
    fn archiving_is_recorded_once() {
        MeetupTest::with(())
            .given(vec![created()])
            .when(update(|u| u.archived = Some(true)))
            .then_expect_events(vec![MeetupEvent::MeetupArchived]);
        MeetupTest::with(())
            .given(vec![created(), MeetupEvent::MeetupArchived])
            .when(update(|u| u.archived = Some(true)))
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_archived_meetup_refuses_changes() {
        MeetupTest::with(())
            .given(vec![created(), MeetupEvent::MeetupArchived])
            .when(update(|u| u.qa_open = Some(false)))
            .then_expect_error(MeetupError::Archived);
    }

    #[test]
    fn an_archived_meetup_cannot_be_unarchived() {
        MeetupTest::with(())
            .given(vec![created(), MeetupEvent::MeetupArchived])
            .when(update(|u| u.archived = Some(false)))
            .then_expect_error(MeetupError::Archived);
    }

    #[test]
    fn updating_a_meetup_that_does_not_exist_is_refused() {
        MeetupTest::with(())
            .given_no_previous_events()
            .when(update(|u| u.qa_open = Some(false)))
            .then_expect_error(MeetupError::NotFound);
    }

    #[test]
    fn an_archived_meetup_cannot_be_renamed() {
        let title = MeetupTitle::parse("Rust Osaka").expect("valid");
        MeetupTest::with(())
            .given(vec![created(), MeetupEvent::MeetupArchived])
            .when(update(|u| u.title = Some(title)))
            .then_expect_error(MeetupError::Archived);
    }

    #[test]
    fn moderation_of_an_archived_meetup_cannot_be_switched() {
        MeetupTest::with(())
            .given(vec![created(), MeetupEvent::MeetupArchived])
            .when(update(|u| u.moderated = Some(true)))
            .then_expect_error(MeetupError::Archived);
    }

    #[test]
    fn an_update_of_an_archived_meetup_that_restates_its_settings_is_refused() {
        MeetupTest::with(())
            .given(vec![created(), MeetupEvent::MeetupArchived])
            .when(update(|u| u.qa_open = Some(true)))
            .then_expect_error(MeetupError::Archived);
        MeetupTest::with(())
            .given(vec![created(), MeetupEvent::MeetupArchived])
            .when(update(|_| {}))
            .then_expect_error(MeetupError::Archived);
    }

    #[test]
    fn archiving_again_together_with_a_change_is_refused() {
        MeetupTest::with(())
            .given(vec![created(), MeetupEvent::MeetupArchived])
            .when(update(|u| {
                u.archived = Some(true);
                u.qa_open = Some(false);
            }))
            .then_expect_error(MeetupError::Archived);
    }
}
