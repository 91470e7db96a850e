//! Random action sequences applied to stored cases (SQLite, through the use-case layer the
//! handlers call): every accepted transition is in the SPEC §2 table, logged exactly once,
//! rejected ones change and log nothing, and the audit chain still verifies.

use haochaping::domain::access::Principal;
use haochaping::interfaces::app::AppState;
use haochaping::cases::actions::{apply_action, ActionRequest};
use haochaping::clock;
use haochaping::interfaces::app::config::Config;
use haochaping::domain::case_flow::{Action, CaseState};
use spec_table::is_spec_transition;
use haochaping::domain::intake_rules::{Channel, ReviewContent};
use haochaping::intake::{record_review, record_transaction, ReviewCommand, TransactionCommand};
use haochaping::admin::master_data;
use haochaping::domain::access::Role;
use haochaping::storage::{audit, queries};
use proptest::prelude::*;

#[path = "../src/domain/spec_table.rs"]
#[allow(dead_code)]
mod spec_table;

struct World {
    state: std::sync::Arc<AppState>,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = Config::from_env(Some("127.0.0.1:0".parse().expect("addr"))).expect("config");
    config.database_url = format!("sqlite://{}", dir.path().join("p.db").display());
    config.secret = Some("s".into());
    let state = AppState::bootstrap(config).expect("bootstrap");
    let mut conn = state.conn().expect("conn");
    let now = clock::now();
    for code in ["D1", "D2"] {
        master_data::create_department(&mut conn, "t", code, code, None, None, now).expect("dept");
    }
    master_data::create_service_item(&mut conn, "t", "I1", "item", "D1", now).expect("item");
    World { state, _dir: dir }
}

fn principals() -> Vec<Principal> {
    vec![
        Principal::User { id: 1, username: "c1".into(), role: Role::Department, department_id: Some(1) },
        Principal::User { id: 2, username: "c2".into(), role: Role::Department, department_id: Some(2) },
        Principal::User { id: 3, username: "s".into(), role: Role::Supervisor, department_id: None },
        Principal::User { id: 4, username: "a".into(), role: Role::Admin, department_id: None },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_actions_on_stored_cases_follow_the_table(
        steps in proptest::collection::vec((0usize..4, 0usize..Action::ALL.len(), any::<bool>()), 1..25)
    ) {
        let w = world();
        let mut conn = w.state.conn().expect("conn");
        let rules = w.state.rules(&mut conn).expect("rules");
        // What seeding wrote (admin changes, a provisional calendar for next year).
        let seeded = audit::verify(&mut conn).expect("verify").events_checked as usize;
        let now = clock::now();
        let tx = TransactionCommand {
            transaction_no: "T".into(), service_item_code: "I1".into(), window_code: None, staff_no: None,
            channel: Channel::Pc, applicant_name: None, applicant_phone: None, applicant_email: None,
            accepted_at: None, completed_at: now, invite_by_sms: false,
        };
        record_transaction(&mut conn, &tx, now).expect("tx");
        let review = ReviewCommand {
            transaction_no: "T".into(), content: ReviewContent::parse(1, vec![], Some("差".into())).expect("content"),
            channel: Channel::Pc, anonymous: false, is_public: true, rated_at: now, tag_set_version: Some(1),
            moderation: haochaping::domain::exchange::AuditStatus::NotNeeded,
            origin: Default::default(),
        };
        let case_id = record_review(&mut conn, &review, "t", now, &rules).expect("review").case_id.expect("case");
        let people = principals();
        let mut accepted = 0usize;
        for (who, action_index, with_target) in steps {
            let action = Action::ALL[action_index];
            let before = queries::case_by_id(&mut conn, case_id).expect("q").expect("case");
            let events_before = audit::verify(&mut conn).expect("verify").events_checked;
            let request = ActionRequest {
                action,
                note: Some("说明".into()),
                department_code: (action == Action::Reassign && with_target)
                    .then(|| if before.department_id == Some(1) { "D2".to_owned() } else { "D1".to_owned() }),
            };
            let result = apply_action(&mut conn, &people[who], case_id, &request, now, &rules);
            let after = queries::case_by_id(&mut conn, case_id).expect("q").expect("case");
            let events_after = audit::verify(&mut conn).expect("verify").events_checked;
            let from = before.state;
            let to = after.state;
            match result {
                Ok(_) => {
                    accepted += 1;
                    prop_assert!(is_spec_transition(from, action, to), "{:?} --{:?}--> {:?}", from, action, to);
                    prop_assert_eq!(events_after, events_before + 1, "one audit event per transition");
                    if from == CaseState::Closed {
                        prop_assert_eq!(action, Action::Reopen);
                    }
                }
                Err(_) => {
                    prop_assert_eq!(&before.state, &after.state);
                    prop_assert_eq!(before.department_id, after.department_id);
                    prop_assert_eq!(&before.extension, &after.extension);
                    prop_assert_eq!(events_after, events_before, "a refused action logs nothing");
                }
            }
        }
        let report = audit::verify(&mut conn).expect("verify");
        prop_assert!(report.ok);
        let case_events = report.events_checked as usize;
        // The case has its opening plus one per accepted action.
        prop_assert_eq!(case_events, seeded + 1 + accepted);
    }
}
