//! Moving a case through its loop: one action, checked by the state machine, applied with new
//! deadlines, logged in the audit chain and announced by mail, in one database transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::access::Principal;
use crate::domain::rules::Rules;
use crate::cases::work::{actor_for, facts_of, is_co_department, lock_case, stage_due_for};
use crate::cases::{reply_checks, work_orders};
use crate::clock;
use crate::db_run;
use crate::domain::case_flow::{decide, Action, Actor, CaseState, Extension};
use crate::domain::intake_rules::check_text;
use crate::domain::sla::Deadlines;
use crate::error::{AppError, AppResult};
use crate::adapters::mail::outbox;
use crate::adapters::webhooks::outbox::{self as webhooks, CaseEvent};
use crate::domain::webhook_events::{events_of_action, note_is_public, WebhookEvent};
use crate::storage::audit::{self, AuditEntry};
use crate::storage::models::Case;
use crate::storage::schema::{cases, reviews};
use crate::storage::{queries, Conn};

pub const MAX_NOTE_CHARS: usize = 4000;

pub struct ActionRequest {
    pub action: Action,
    pub note: Option<String>,
    /// Target of `reassign`.
    pub department_code: Option<String>,
}

/// The deadlines of a case as its stored facts imply them.
pub fn deadlines_of(case: &Case, rules: &Rules) -> Deadlines {
    let extended = case.extension == Extension::Granted;
    Deadlines::compute(clock::from_db(case.cycle_started_at), case.replied_at.map(clock::from_db), extended, &rules.policy(&case.source), &rules.calendar)
        .with_committed_reply(case.committed_reply_due.map(clock::from_db), extended)
}

/// Applies `request` to case `id` on behalf of `principal`.
pub fn apply_action(conn: &mut Conn, principal: &Principal, id: i64, request: &ActionRequest, now: DateTime<Utc>, rules: &Rules) -> AppResult<Case> {
    let note = request.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if let Some(n) = note {
        check_text("note", n, MAX_NOTE_CHARS)?;
    }
    if request.action.needs_note() && note.is_none() {
        return Err(AppError::invalid("note", format!("{} needs a note ({})", request.action, request.action.label())));
    }
    if request.department_code.is_some() && request.action != Action::Reassign {
        return Err(AppError::invalid("department_code", "only reassign takes a department"));
    }
    if request.action == Action::Reply {
        reply_checks::warm_up();
    }
    conn.transaction(|conn| {
        let case = lock_case(conn, id)?;
        let actor = actor_for(principal, &case);
        // Another department's case does not exist for this caller (404, as when reading it);
        // callers who never act on cases get 403 whatever the state, without being told what
        // is allowed.
        // A co-handling department (协办) sees the case, so it is told why it may not act.
        if matches!(actor, Actor::Department { own: false }) {
            let co_handles = match principal.department_id() {
                Some(department_id) => is_co_department(conn, id, department_id)?,
                None => false,
            };
            return Err(if co_handles {
                AppError::Forbidden("a co-handling department (协办) reads the case and adds notes; the handling department (主办) acts on it".into())
            } else {
                AppError::NotFound(format!("no case {id}"))
            });
        }
        if let Some(primary) = case.merged_into {
            return Err(AppError::conflict_with(
                "case_merged",
                format!("case {id} was merged into case {primary} (并单) and closes with it; act on case {primary}"),
                serde_json::json!({"merged_into": primary, "allowed_actions": []}),
            ));
        }
        if matches!(actor, Actor::Other) || (matches!(principal, Principal::Citizen { .. }) && request.action != Action::FollowUpDissatisfied) {
            return Err(AppError::Forbidden("this caller does not act on cases".into()));
        }
        let facts = facts_of(&case)?;
        let outcome = decide(&facts, actor, request.action)?;
        apply_outcome(conn, case, principal, request, note, outcome, now, rules)
    })
}

#[allow(clippy::too_many_arguments)]
fn apply_outcome(
    conn: &mut Conn,
    case: Case,
    principal: &Principal,
    request: &ActionRequest,
    note: Option<&str>,
    outcome: crate::domain::case_flow::Outcome,
    now: DateTime<Utc>,
    rules: &Rules,
) -> AppResult<Case> {
    let now_db = clock::to_db(now);
    let mut next = case.clone();
    let from = case.state;
    next.state = outcome.to;
    next.extension = outcome.extension;
    next.updated_at = now_db;
    let mut new_department = None;
    let mut warnings = Vec::new();
    if outcome.reassign {
        let code = request
            .department_code
            .as_deref()
            .ok_or_else(|| AppError::invalid("department_code", "reassign needs the target department"))?;
        let department = queries::department_by_code(conn, code)?.ok_or_else(|| AppError::unknown_code("department_code", code))?;
        if case.department_id == Some(department.id) {
            return Err(AppError::invalid("department_code", "the case is already with that department"));
        }
        next.department_id = Some(department.id);
        new_department = Some(department.id);
    }
    match request.action {
        Action::Reply => {
            // 答复提示: never blocking; the warnings go with the reply to the supervisor.
            warnings = reply_checks::check(conn, &case, note.unwrap_or_default())?;
            next.reply_text = note.map(str::to_owned);
            next.replied_at = Some(now_db);
            next.reply_warnings = reply_checks::to_column(&warnings)?;
        }
        Action::SendBack => next.replied_at = None,
        Action::Approve | Action::UpholdAppeal => next.closed_at = Some(now_db),
        _ => {}
    }
    // A reassigned or reopened case gives the department a fresh clock.
    if matches!(request.action, Action::Reassign | Action::Reopen | Action::FollowUpDissatisfied) {
        next.cycle_started_at = now_db;
        // The earlier answer stays in the timeline; the citizen waits for a new one.
        next.reply_text = None;
        next.replied_at = None;
        next.closed_at = None;
        next.reply_warnings = None;
    }
    // A new cycle after the case closed answers to the policy, not to the old work order's promise.
    if matches!(request.action, Action::Reopen | Action::FollowUpDissatisfied) {
        next.committed_reply_due = None;
    }
    let deadlines = deadlines_of(&next, rules);
    next.feedback_due = Some(clock::to_db(deadlines.feedback));
    next.reply_due = Some(clock::to_db(deadlines.reply));
    next.supervision_due = deadlines.supervision.map(clock::to_db);
    next.stage_due = stage_due_for(outcome.to, &deadlines).map(clock::to_db);

    db_run!(conn, |c| diesel::update(cases::table.find(case.id))
        .set((
            cases::state.eq(&next.state),
            cases::extension.eq(&next.extension),
            cases::department_id.eq(next.department_id),
            cases::reply_text.eq(&next.reply_text),
            cases::reply_warnings.eq(&next.reply_warnings),
            cases::replied_at.eq(next.replied_at),
            cases::closed_at.eq(next.closed_at),
            cases::cycle_started_at.eq(next.cycle_started_at),
            cases::feedback_due.eq(next.feedback_due),
            cases::reply_due.eq(next.reply_due),
            cases::supervision_due.eq(next.supervision_due),
            cases::stage_due.eq(next.stage_due),
            // A new stage or deadline is alerted afresh (the alerts' UNIQUE key keeps an
            // unchanged one from alerting twice).
            cases::alerted_level.eq(crate::domain::sla::NOT_ALERTED),
            cases::updated_at.eq(next.updated_at),
            cases::committed_reply_due.eq(next.committed_reply_due),
        ))
        .execute(c))?;
    if request.action == Action::RequestReassign {
        work_orders::record_return(conn, &case, note.unwrap_or_default(), now)?;
    }
    // Search (检索): a reply is found as soon as it is given; a moved case's texts move with it.
    if let (Action::Reply, Some(reply)) = (request.action, &next.reply_text) {
        crate::adapters::search::index_reply(conn, case.id, next.department_id, reply, now_db)?;
    }
    if new_department.is_some() {
        crate::adapters::search::move_case(conn, case.id, next.department_id)?;
    }
    // The rating's 整改 status as the provincial feed reports it may have moved.
    if let Some(review_id) = case.review_id {
        queries::note_exchange_change(conn, review_id, now_db)?;
    }
    // An upheld appeal takes the review out of the statistics; reopening the case puts it back.
    if outcome.invalidate_review || request.action == Action::Reopen {
        if let Some(review_id) = case.review_id {
            db_run!(conn, |c| diesel::update(reviews::table.find(review_id))
                .set(reviews::invalidated.eq(outcome.invalidate_review))
                .execute(c))?;
        }
    }
    let actor_label = principal.actor_label();
    let detail = match new_department {
        Some(d) => Some(serde_json::json!({"department_id": d}).to_string()),
        None if !warnings.is_empty() => {
            Some(serde_json::json!({"warnings": warnings.iter().map(|w| w.code.as_str()).collect::<Vec<_>>()}).to_string())
        }
        None => None,
    };
    audit::append(
        conn,
        AuditEntry {
            case_id: Some(case.id),
            actor: &actor_label,
            action: request.action.as_str(),
            from_state: Some(from.as_str()),
            to_state: Some(next.state.as_str()),
            note,
            detail,
            at: now_db,
        },
    )?;
    if outcome.notify_supervisors {
        outbox::queue_to_supervisors(conn, case.id, request.action, note, now)?;
    }
    if let Some(department_id) = new_department {
        outbox::queue_new_cases(conn, &[(case.id, department_id, deadlines.feedback)], now)?;
    }
    if request.action == Action::Approve && next.state == CaseState::Closed {
        outbox::queue_reply_to_citizen(conn, &next, now)?;
        crate::adapters::sms::outbox::queue_reply(conn, &next, now)?;
    }
    let announced = announcements(&case, &next, principal, request.action, note, now);
    webhooks::queue(conn, &announced, now)?;
    if next.state == CaseState::Closed {
        work_orders::close_merged(conn, &next, &actor_label, now)?;
    }
    Ok(next)
}

/// The webhook events of one action, in the order a receiver must see them.
fn announcements(before: &Case, after: &Case, principal: &Principal, action: Action, note: Option<&str>, now: DateTime<Utc>) -> Vec<CaseEvent> {
    let at = clock::rfc3339_local(clock::to_db(now));
    events_of_action(action, after.state)
        .into_iter()
        .map(|event| {
            let data = match event {
                WebhookEvent::CaseReplied => serde_json::json!({
                    "reply": after.reply_text,
                    "replied_at": after.replied_at.map(clock::rfc3339_local),
                    "approved_at": at,
                }),
                WebhookEvent::CaseClosed => serde_json::json!({"closed_at": at, "action": action.as_str()}),
                _ => serde_json::json!({
                    "from": before.state.as_str(),
                    "to": after.state.as_str(),
                    "action": action.as_str(),
                    "action_label": action.label(),
                    "actor_role": principal.role().map_or("citizen", |r| r.as_str()),
                    "note": note.filter(|_| note_is_public(action)),
                    "reply_due": after.reply_due.map(clock::rfc3339_local),
                }),
            };
            CaseEvent { event, case_id: after.id, data }
        })
        .collect()
}

/// Open cases whose deadlines one recompute transaction rewrites at most: each batch holds
/// SQLite's writer (or PostgreSQL's row locks) for a few milliseconds, so intake keeps
/// answering while a calendar change moves a large backlog.
const RECOMPUTE_BATCH: i64 = 500;
/// Set while a recompute runs; `serve` finishes one a crash interrupted.
pub const RECOMPUTE_PENDING: &str = "deadlines_recompute_pending";

/// Recomputes the stored deadlines of the open cases after the calendar or an SLA policy
/// changed (each already committed), with the rules as they now stand. Reads in batches outside
/// any transaction and writes only the cases whose deadlines moved, one short transaction per
/// batch. Idempotent: run again, it changes nothing. Returns how many cases moved.
pub fn recompute_open_deadlines(conn: &mut Conn) -> AppResult<u64> {
    queries::put_setting(conn, RECOMPUTE_PENDING, &clock::now().to_rfc3339())?;
    let rules = crate::storage::rules::load(conn)?;
    let mut moved = 0u64;
    let mut after_id = 0i64;
    loop {
        let batch: Vec<Case> = db_run!(conn, |c| cases::table
            .filter(cases::closed_at.is_null())
            .filter(cases::id.gt(after_id))
            .order(cases::id.asc())
            .limit(RECOMPUTE_BATCH)
            .select(Case::as_select())
            .load(c))?;
        let Some(last) = batch.last() else { break };
        after_id = last.id;
        let changes: Vec<_> = batch
            .iter()
            .filter_map(|case| {
                let d = deadlines_of(case, &rules);
                let (feedback, reply, supervision) = (Some(clock::to_db(d.feedback)), Some(clock::to_db(d.reply)), d.supervision.map(clock::to_db));
                let stage_due = stage_due_for(case.state, &d).map(clock::to_db);
                let unchanged = (feedback, reply, supervision, stage_due) == (case.feedback_due, case.reply_due, case.supervision_due, case.stage_due);
                (!unchanged).then_some((case.id, feedback, reply, supervision, stage_due, stage_due != case.stage_due))
            })
            .collect();
        if changes.is_empty() {
            continue;
        }
        conn.transaction(|conn| {
            for &(id, feedback, reply, supervision, stage_due, stage_moved) in &changes {
                let set = (cases::feedback_due.eq(feedback), cases::reply_due.eq(reply), cases::supervision_due.eq(supervision), cases::stage_due.eq(stage_due));
                if stage_moved {
                    // A moved deadline is alerted afresh.
                    db_run!(conn, |c| diesel::update(cases::table.find(id)).set((set, cases::alerted_level.eq(crate::domain::sla::NOT_ALERTED))).execute(c))?;
                } else {
                    db_run!(conn, |c| diesel::update(cases::table.find(id)).set(set).execute(c))?;
                }
            }
            Ok::<_, AppError>(())
        })?;
        moved += changes.len() as u64;
    }
    queries::delete_setting(conn, RECOMPUTE_PENDING)?;
    Ok(moved)
}
