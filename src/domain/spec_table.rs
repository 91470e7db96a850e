//! SPEC §2's transition table written out on its own, not derived from `case_flow::rule`, so
//! that tests can check the machine against the specification. Test-only.

// Named by crate so that the integration tests can include this file too.
use haochaping::domain::case_flow::{Action, CaseState};

pub fn is_spec_transition(from: CaseState, action: Action, to: CaseState) -> bool {
    use Action as A;
    use CaseState as S;
    matches!(
        (from, action, to),
        (S::Feedback, A::Verify, S::Rectification)
            | (S::Feedback, A::Appeal, S::Appeal)
            | (S::Feedback, A::RequestReassign, S::Feedback)
            | (S::Rectification, A::Rectify, S::Reply)
            | (S::Rectification, A::RequestExtension, S::Rectification)
            | (S::Reply, A::Reply, S::Supervision)
            | (S::Supervision, A::Approve, S::Closed)
            | (S::Supervision, A::SendBack, S::Rectification)
            | (S::Appeal, A::UpholdAppeal, S::Closed)
            | (S::Appeal, A::DismissAppeal, S::Rectification)
            | (S::Closed, A::Reopen | A::FollowUpDissatisfied, S::Rectification)
    ) || (from.is_open() && action == A::Reassign && to == S::Feedback)
        || (from.is_open() && matches!(action, A::GrantExtension | A::DenyExtension) && to == from)
}
