//! The case state machine of SPEC §2: which action is legal in which state, for whom, and
//! where it leads. Pure: the caller loads the case, asks [`decide`], and persists the outcome.

use super::intake_rules::string_enum;

string_enum! {
    CaseState {
        Feedback = "feedback",
        Rectification = "rectification",
        Reply = "reply",
        Supervision = "supervision",
        Appeal = "appeal",
        Closed = "closed",
    }
}

impl CaseState {
    pub fn label(self) -> &'static str {
        match self {
            CaseState::Feedback => "待核实",
            CaseState::Rectification => "整改中",
            CaseState::Reply => "待回复",
            CaseState::Supervision => "待审核",
            CaseState::Appeal => "申诉中",
            CaseState::Closed => "办结",
        }
    }

    pub fn is_open(self) -> bool {
        self != CaseState::Closed
    }
}

string_enum! {
    Action {
        Verify = "verify",
        Rectify = "rectify",
        Reply = "reply",
        Approve = "approve",
        SendBack = "send_back",
        Appeal = "appeal",
        UpholdAppeal = "uphold_appeal",
        DismissAppeal = "dismiss_appeal",
        RequestExtension = "request_extension",
        GrantExtension = "grant_extension",
        DenyExtension = "deny_extension",
        RequestReassign = "request_reassign",
        Reassign = "reassign",
        Reopen = "reopen",
        FollowUpDissatisfied = "follow_up_dissatisfied",
    }
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::Verify => "核实",
            Action::Rectify => "整改",
            Action::Reply => "回复",
            Action::Approve => "审核通过",
            Action::SendBack => "退回",
            Action::Appeal => "申诉",
            Action::UpholdAppeal => "申诉成立",
            Action::DismissAppeal => "驳回申诉",
            Action::RequestExtension => "申请延期",
            Action::GrantExtension => "同意延期",
            Action::DenyExtension => "不同意延期",
            Action::RequestReassign => "申请改派",
            Action::Reassign => "改派",
            Action::Reopen => "重启",
            Action::FollowUpDissatisfied => "回访不满意",
        }
    }

    /// Actions whose note is required (a reason, the measures, or the reply text).
    pub fn needs_note(self) -> bool {
        matches!(
            self,
            Action::Rectify
                | Action::Reply
                | Action::SendBack
                | Action::Appeal
                | Action::RequestExtension
                | Action::RequestReassign
                | Action::Reopen
        )
    }
}

string_enum! {
    /// The one extension a case may have.
    Extension {
        None = "none",
        Requested = "requested",
        Granted = "granted",
        Denied = "denied",
    }
}

/// Who is acting, as far as the state machine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A department user; `own` is whether the case belongs to their department.
    Department { own: bool },
    Supervisor,
    /// The citizen who gave the review, through the rating link.
    Citizen,
    /// Admins manage master data; they do not handle cases (separation of duties).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Department,
    Supervisor,
    Citizen,
}

/// The facts of a case that decide what may happen next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseFacts {
    pub state: CaseState,
    pub extension: Extension,
    pub has_department: bool,
    pub from_review: bool,
}

/// What an accepted action does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub to: CaseState,
    pub extension: Extension,
    /// The review behind the case no longer counts (upheld appeal).
    pub invalidate_review: bool,
    /// The case moves to the department named in the request.
    pub reassign: bool,
    /// Supervisors must hear of it.
    pub notify_supervisors: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("action {action} is not allowed in state {state}")]
    NotAllowedInState { action: Action, state: CaseState, allowed: Vec<Action> },
    #[error("action {action} is not yours to take on this case")]
    WrongActor { action: Action },
}

/// The transition table: (state, action) → who may act and where it leads. `None` as target
/// means the state does not change.
fn rule(facts: &CaseFacts, action: Action) -> Option<(Who, Option<CaseState>)> {
    use Action as A;
    use CaseState as S;
    let open = facts.state.is_open();
    let pending_extension = facts.extension == Extension::Requested;
    match (facts.state, action) {
        (S::Feedback, A::Verify) => Some((Who::Department, Some(S::Rectification))),
        (S::Feedback, A::Appeal) if facts.from_review => Some((Who::Department, Some(S::Appeal))),
        (S::Feedback, A::RequestReassign) => Some((Who::Department, None)),
        (S::Rectification, A::Rectify) => Some((Who::Department, Some(S::Reply))),
        (S::Rectification, A::RequestExtension) if facts.extension == Extension::None => {
            Some((Who::Department, None))
        }
        (S::Reply, A::Reply) => Some((Who::Department, Some(S::Supervision))),
        (S::Supervision, A::Approve) => Some((Who::Supervisor, Some(S::Closed))),
        (S::Supervision, A::SendBack) => Some((Who::Supervisor, Some(S::Rectification))),
        (S::Appeal, A::UpholdAppeal) => Some((Who::Supervisor, Some(S::Closed))),
        (S::Appeal, A::DismissAppeal) => Some((Who::Supervisor, Some(S::Rectification))),
        (S::Closed, A::Reopen) => Some((Who::Supervisor, Some(S::Rectification))),
        (S::Closed, A::FollowUpDissatisfied) if facts.from_review => {
            Some((Who::Citizen, Some(S::Rectification)))
        }
        // A reassigned case starts again at verification with the new department.
        (_, A::Reassign) if open => Some((Who::Supervisor, Some(S::Feedback))),
        (_, A::GrantExtension | A::DenyExtension) if open && pending_extension => {
            Some((Who::Supervisor, None))
        }
        _ => None,
    }
}

fn actor_is(actor: Actor, who: Who, facts: &CaseFacts) -> bool {
    match (actor, who) {
        (Actor::Department { own }, Who::Department) => own && facts.has_department,
        (Actor::Supervisor, Who::Supervisor) => true,
        (Actor::Citizen, Who::Citizen) => true,
        _ => false,
    }
}

/// What this actor may do now (the case's `allowed_actions`).
pub fn allowed_actions(facts: &CaseFacts, actor: Actor) -> Vec<Action> {
    Action::ALL
        .iter()
        .copied()
        .filter(|a| matches!(rule(facts, *a), Some((who, _)) if actor_is(actor, who, facts)))
        .collect()
}

/// Decides an action: `409`-style error when the state does not allow it for anyone,
/// `403`-style when it does but not for this actor.
pub fn decide(facts: &CaseFacts, actor: Actor, action: Action) -> Result<Outcome, FlowError> {
    let Some((who, target)) = rule(facts, action) else {
        // What this caller could do instead: a clerk is not told of the supervisor's actions.
        return Err(FlowError::NotAllowedInState {
            action,
            state: facts.state,
            allowed: allowed_actions(facts, actor),
        });
    };
    if !actor_is(actor, who, facts) {
        return Err(FlowError::WrongActor { action });
    }
    let extension = match action {
        Action::RequestExtension => Extension::Requested,
        Action::GrantExtension => Extension::Granted,
        Action::DenyExtension => Extension::Denied,
        // The new department gets its own deadlines and its own one extension.
        Action::Reassign => Extension::None,
        _ => facts.extension,
    };
    Ok(Outcome {
        to: target.unwrap_or(facts.state),
        extension,
        invalidate_review: action == Action::UpholdAppeal,
        reassign: action == Action::Reassign,
        notify_supervisors: matches!(
            action,
            Action::RequestReassign
                | Action::RequestExtension
                | Action::Appeal
                | Action::Reply
                | Action::FollowUpDissatisfied
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts(state: CaseState) -> CaseFacts {
        CaseFacts { state, extension: Extension::None, has_department: true, from_review: true }
    }

    const CLERK: Actor = Actor::Department { own: true };
    const OTHER_CLERK: Actor = Actor::Department { own: false };

    #[test]
    fn the_happy_path_closes_the_case() {
        let mut f = facts(CaseState::Feedback);
        for (actor, action) in [
            (CLERK, Action::Verify),
            (CLERK, Action::Rectify),
            (CLERK, Action::Reply),
            (Actor::Supervisor, Action::Approve),
        ] {
            f.state = decide(&f, actor, action).unwrap().to;
        }
        assert_eq!(f.state, CaseState::Closed);
    }

    #[test]
    fn illegal_actions_name_what_is_allowed() {
        let err = decide(&facts(CaseState::Feedback), CLERK, Action::Approve).unwrap_err();
        match err {
            FlowError::NotAllowedInState { allowed, .. } => {
                assert!(allowed.contains(&Action::Verify));
                assert!(!allowed.contains(&Action::Reassign), "the supervisor's, not the clerk's");
                assert!(!allowed.contains(&Action::Approve));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wrong_role_or_department_is_refused() {
        let f = facts(CaseState::Supervision);
        assert_eq!(decide(&f, CLERK, Action::Approve), Err(FlowError::WrongActor { action: Action::Approve }));
        let f = facts(CaseState::Feedback);
        assert!(matches!(decide(&f, OTHER_CLERK, Action::Verify), Err(FlowError::WrongActor { .. })));
        assert!(matches!(decide(&f, Actor::Supervisor, Action::Verify), Err(FlowError::WrongActor { .. })));
        assert!(matches!(decide(&f, Actor::Other, Action::Reassign), Err(FlowError::WrongActor { .. })));
    }

    #[test]
    fn extension_is_requested_once_and_decided_by_a_supervisor() {
        let mut f = facts(CaseState::Rectification);
        let out = decide(&f, CLERK, Action::RequestExtension).unwrap();
        assert_eq!((out.to, out.extension), (CaseState::Rectification, Extension::Requested));
        f.extension = out.extension;
        assert!(decide(&f, CLERK, Action::RequestExtension).is_err());
        let out = decide(&f, Actor::Supervisor, Action::GrantExtension).unwrap();
        f.extension = out.extension;
        assert_eq!(f.extension, Extension::Granted);
        assert!(decide(&f, CLERK, Action::RequestExtension).is_err());
        assert!(decide(&f, Actor::Supervisor, Action::GrantExtension).is_err());
    }

    #[test]
    fn upheld_appeal_closes_and_invalidates() {
        let f = facts(CaseState::Feedback);
        let out = decide(&f, CLERK, Action::Appeal).unwrap();
        assert_eq!(out.to, CaseState::Appeal);
        let out = decide(&facts(CaseState::Appeal), Actor::Supervisor, Action::UpholdAppeal).unwrap();
        assert_eq!(out.to, CaseState::Closed);
        assert!(out.invalidate_review);
    }

    #[test]
    fn complaints_cannot_be_appealed_as_unfair_reviews() {
        let f = CaseFacts { from_review: false, ..facts(CaseState::Feedback) };
        assert!(matches!(decide(&f, CLERK, Action::Appeal), Err(FlowError::NotAllowedInState { .. })));
    }

    #[test]
    fn an_unassigned_case_waits_for_dispatch() {
        let f = CaseFacts { has_department: false, ..facts(CaseState::Feedback) };
        assert_eq!(allowed_actions(&f, CLERK), Vec::<Action>::new());
        assert_eq!(allowed_actions(&f, Actor::Supervisor), vec![Action::Reassign]);
    }

    #[test]
    fn closed_cases_reopen_only_by_supervisor_or_dissatisfied_citizen() {
        let f = facts(CaseState::Closed);
        assert_eq!(allowed_actions(&f, Actor::Supervisor), vec![Action::Reopen]);
        assert_eq!(allowed_actions(&f, Actor::Citizen), vec![Action::FollowUpDissatisfied]);
        assert_eq!(allowed_actions(&f, CLERK), Vec::<Action>::new());
    }

    fn any_actor() -> impl Strategy<Value = Actor> {
        prop_oneof![
            Just(CLERK),
            Just(OTHER_CLERK),
            Just(Actor::Supervisor),
            Just(Actor::Citizen),
            Just(Actor::Other)
        ]
    }

    proptest! {
        #[test]
        fn random_sequences_stay_inside_the_table(
            steps in proptest::collection::vec((any_actor(), 0..Action::ALL.len()), 1..60)
        ) {
            let mut f = facts(CaseState::Feedback);
            let mut log: Vec<(CaseState, Action, CaseState)> = Vec::new();
            for (actor, index) in steps {
                let action = Action::ALL[index];
                let before = f;
                match decide(&f, actor, action) {
                    Ok(out) => {
                        prop_assert!(crate::domain::spec_table::is_spec_transition(before.state, action, out.to),
                            "{:?} --{:?}--> {:?} is not in the table", before.state, action, out.to);
                        prop_assert!(allowed_actions(&before, actor).contains(&action));
                        if before.state == CaseState::Closed {
                            prop_assert!(matches!(action, Action::Reopen | Action::FollowUpDissatisfied));
                        }
                        if action == Action::RequestExtension {
                            prop_assert_eq!(before.extension, Extension::None);
                        }
                        if action == Action::Reassign {
                            prop_assert_eq!(out.extension, Extension::None);
                        }
                        f.state = out.to;
                        f.extension = out.extension;
                        log.push((before.state, action, out.to));
                    }
                    Err(_) => {
                        prop_assert_eq!(f, before);
                        prop_assert!(!allowed_actions(&before, actor).contains(&action));
                    }
                }
            }
            // Once per department: reassignment starts a new count.
            for stint in log.split(|(_, a, _)| *a == Action::Reassign) {
                let requested = stint.iter().filter(|(_, a, _)| *a == Action::RequestExtension).count();
                prop_assert!(requested <= 1, "extension requested {} times for one department", requested);
            }
        }
    }
}
