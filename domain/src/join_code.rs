//! The `JoinCodeClaim` aggregate: one per join code, so that two meetups can never
//! hold the same code. Its aggregate id is the code itself; the event store's
//! uniqueness of (aggregate, sequence) decides a race between two claims.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ids::MeetupId;
use crate::values::JoinCode;
use crate::InMeetup;

/// Which meetup holds a join code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JoinCodeClaim {
    pub meetup_id: Option<MeetupId>,
}

/// Claims a code for a meetup.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimJoinCode {
    pub code: JoinCode,
    pub meetup_id: MeetupId,
}

/// A code was claimed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JoinCodeEvent {
    JoinCodeClaimed { code: String, meetup_id: MeetupId },
}

impl DomainEvent for JoinCodeEvent {
    fn event_type(&self) -> String {
        "JoinCodeClaimed".to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why a claim was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinCodeError {
    #[error("the join code is already taken")]
    Taken,
}

impl Aggregate for JoinCodeClaim {
    const TYPE: &'static str = "JoinCode";
    type Command = ClaimJoinCode;
    type Event = JoinCodeEvent;
    type Error = JoinCodeError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match self.meetup_id {
            Some(holder) if holder == command.meetup_id => Ok(()),
            Some(_) => Err(JoinCodeError::Taken),
            None => {
                let event = JoinCodeEvent::JoinCodeClaimed {
                    code: command.code.as_str().to_owned(),
                    meetup_id: command.meetup_id,
                };
                sink.write(event, self).await;
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: Self::Event) {
        let JoinCodeEvent::JoinCodeClaimed { meetup_id, .. } = event;
        self.meetup_id = Some(meetup_id);
    }
}

impl InMeetup for JoinCodeClaim {
    fn meetup_id(&self) -> Option<MeetupId> {
        self.meetup_id
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn meetup(n: u128) -> MeetupId {
        MeetupId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn claim(n: u128) -> ClaimJoinCode {
        ClaimJoinCode {
            code: JoinCode::parse("ABC234").expect("valid"),
            meetup_id: meetup(n),
        }
    }

    fn claimed(n: u128) -> JoinCodeEvent {
        JoinCodeEvent::JoinCodeClaimed {
            code: "ABC234".into(),
            meetup_id: meetup(n),
        }
    }

    #[test]
    fn a_free_code_is_claimed() {
        TestFramework::<JoinCodeClaim>::with(())
            .given_no_previous_events()
            .when(claim(1))
            .then_expect_events(vec![claimed(1)]);
    }

    #[test]
    fn a_code_held_by_another_meetup_is_refused() {
        TestFramework::<JoinCodeClaim>::with(())
            .given(vec![claimed(1)])
            .when(claim(2))
            .then_expect_error(JoinCodeError::Taken);
    }

    #[test]
    fn claiming_again_for_the_same_meetup_records_nothing() {
        TestFramework::<JoinCodeClaim>::with(())
            .given(vec![claimed(1)])
            .when(claim(1))
            .then_expect_events(vec![]);
    }
}
