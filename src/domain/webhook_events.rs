//! What a subscribed system (the 12345 hotline, a district dashboard) hears about cases, and
//! which case action announces what. Pure: the outbox and the sender are adapters.

use crate::domain::case_flow::{Action, CaseState};
use crate::domain::intake_rules::string_enum;

string_enum! {
    /// The events a webhook may subscribe to.
    WebhookEvent {
        CaseOpened = "case.opened",
        CaseStateChanged = "case.state_changed",
        CaseReplied = "case.replied",
        CaseClosed = "case.closed",
        CaseAlert = "case.alert",
        ComplaintMerged = "complaint.merged",
    }
}

/// The events one case action announces, in the order a receiver must see them: the change of
/// state first, then the approved reply, then the closing.
pub fn events_of_action(action: Action, to: CaseState) -> Vec<WebhookEvent> {
    let mut events = vec![WebhookEvent::CaseStateChanged];
    if action == Action::Approve {
        events.push(WebhookEvent::CaseReplied);
    }
    if to == CaseState::Closed {
        events.push(WebhookEvent::CaseClosed);
    }
    events
}

/// Whether an action's note may leave the system with the event: only what the citizen wrote
/// (a 回访 dissatisfied note). Staff notes — verification, measures, appeal and send-back
/// reasons, the draft reply before it is approved — stay internal; the approved reply goes out
/// as `case.replied`.
pub fn note_is_public(action: Action) -> bool {
    action == Action::FollowUpDissatisfied
}

/// Parses a subscription list: every name known, none twice, at least one.
pub fn parse_events(names: &[String]) -> Result<Vec<WebhookEvent>, String> {
    if names.is_empty() {
        return Err(format!("subscribe to at least one of {}", all_names()));
    }
    let mut events = Vec::with_capacity(names.len());
    for name in names {
        let event = WebhookEvent::parse(name).ok_or_else(|| format!("unknown event {name:?}; known: {}", all_names()))?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

fn all_names() -> String {
    WebhookEvent::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_announces_the_change_the_reply_and_the_closing_in_that_order() {
        assert_eq!(
            events_of_action(Action::Approve, CaseState::Closed),
            [WebhookEvent::CaseStateChanged, WebhookEvent::CaseReplied, WebhookEvent::CaseClosed]
        );
        assert_eq!(events_of_action(Action::UpholdAppeal, CaseState::Closed), [WebhookEvent::CaseStateChanged, WebhookEvent::CaseClosed]);
        assert_eq!(events_of_action(Action::Verify, CaseState::Rectification), [WebhookEvent::CaseStateChanged]);
        assert!(note_is_public(Action::FollowUpDissatisfied) && !note_is_public(Action::Reply) && !note_is_public(Action::SendBack));
    }

    #[test]
    fn subscriptions_name_known_events() {
        assert_eq!(parse_events(&["case.replied".into(), "case.replied".into()]), Ok(vec![WebhookEvent::CaseReplied]));
        assert!(parse_events(&[]).is_err());
        assert!(parse_events(&["case.deleted".into()]).unwrap_err().contains("case.opened"));
    }
}
