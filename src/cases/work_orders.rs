//! What 12345 and 国办 work orders need beyond one case and one department: duplicates merged
//! into one case (并单) that close with it, each source told the reply; co-handling departments
//! (协办) that read the case and add notes while the handling department replies; and each
//! return of a misrouted case (退单) kept with its reason, for the statistics.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::adapters::webhooks::outbox::{self as webhooks, CaseEvent};
use crate::cases::work::{co_department_codes, ensure_visible, lock_case};
use crate::clock;
use crate::db_run;
use crate::domain::access::{Principal, Role};
use crate::domain::case_flow::CaseState;
use crate::domain::intake_rules::check_text;
use crate::domain::webhook_events::WebhookEvent;
use crate::error::{AppError, AppResult};
use crate::storage::audit::{self, AuditEntry};
use crate::storage::models::Case;
use crate::storage::schema::{case_co_departments, case_returns, cases};
use crate::storage::{queries, Conn};

/// Most duplicates merged in one call.
pub const MAX_MERGED: usize = 100;
pub const MAX_NOTE_CHARS: usize = 4000;

fn require_supervisor(principal: &Principal) -> AppResult<()> {
    Ok(principal.require(&[Role::Supervisor])?)
}

/// Why a case cannot take part in a merge, or `None`.
fn unmergeable(case: &Case) -> Option<&'static str> {
    if case.complaint_id.is_none() {
        Some("only complaints (work orders) are merged; a bad review is its own case")
    } else if case.state == CaseState::Closed {
        Some("the case is closed")
    } else if case.merged_into.is_some() {
        Some("the case is already merged into another")
    } else {
        None
    }
}

/// 并单: merges the duplicates `ids` into `primary`. The duplicates stop running (no deadline,
/// no alert, no action of their own) and close with the primary, each with its reply. Each is
/// audited and announced (`complaint.merged`) to its source.
pub fn merge(conn: &mut Conn, principal: &Principal, primary: i64, ids: &[i64], now: DateTime<Utc>) -> AppResult<Case> {
    require_supervisor(principal)?;
    if ids.is_empty() || ids.len() > MAX_MERGED {
        return Err(AppError::invalid("case_ids", format!("1 to {MAX_MERGED} case ids")));
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != ids.len() {
        return Err(AppError::invalid("case_ids", "a case is listed twice"));
    }
    if sorted.contains(&primary) {
        return Err(AppError::invalid("case_ids", "a case is not merged into itself"));
    }
    let actor = principal.actor_label();
    conn.transaction(|conn| {
        let target = lock_case(conn, primary)?;
        if let Some(why) = unmergeable(&target) {
            return Err(AppError::conflict_with("not_mergeable", format!("case {primary} cannot take duplicates: {why}"), serde_json::json!({"case_id": primary})));
        }
        let mut duplicates = Vec::with_capacity(sorted.len());
        for &id in &sorted {
            // A listed id that names no case is a bad value of the list; other errors stay theirs.
            let case = lock_case(conn, id).map_err(|e| match e {
                AppError::NotFound(_) => AppError::invalid("case_ids", format!("no case {id}")),
                other => other,
            })?;
            if let Some(why) = unmergeable(&case) {
                return Err(AppError::conflict_with("not_mergeable", format!("case {id} cannot be merged: {why}"), serde_json::json!({"case_id": id})));
            }
            let children: i64 = db_run!(conn, |c| cases::table.filter(cases::merged_into.eq(id)).count().get_result(c))?;
            if children > 0 {
                return Err(AppError::conflict_with("not_mergeable", format!("case {id} has duplicates merged into it; merge the others into it instead"), serde_json::json!({"case_id": id})));
            }
            duplicates.push(case);
        }
        let now_db = clock::to_db(now);
        db_run!(conn, |c| diesel::update(cases::table.filter(cases::id.eq_any(&sorted)))
            .set((cases::merged_into.eq(Some(primary)), cases::stage_due.eq(None::<chrono::NaiveDateTime>), cases::updated_at.eq(now_db)))
            .execute(c))?;
        let primary_external = external_no(conn, &target)?;
        let mut events: Vec<CaseEvent> = duplicates
            .iter()
            .map(|d| CaseEvent {
                event: WebhookEvent::ComplaintMerged,
                case_id: d.id,
                data: serde_json::json!({"merged_into": primary, "merged_into_external_no": primary_external, "role": "duplicate"}),
            })
            .collect();
        events.push(CaseEvent { event: WebhookEvent::ComplaintMerged, case_id: primary, data: serde_json::json!({"merged": sorted, "role": "primary"}) });
        webhooks::queue(conn, &events, now)?;
        let note = format!("并单：案件 {} 并入本案", sorted.iter().map(|i| format!("#{i}")).collect::<Vec<_>>().join("、"));
        let mut entries: Vec<AuditEntry<'_>> = Vec::new();
        let detail_primary = serde_json::json!({"merged": sorted}).to_string();
        entries.push(AuditEntry { case_id: Some(primary), actor: &actor, action: "merge", from_state: None, to_state: None, note: Some(&note), detail: Some(detail_primary), at: now_db });
        let merged_note = format!("并单：并入案件 #{primary}，随该案办结");
        for d in &duplicates {
            entries.push(AuditEntry {
                case_id: Some(d.id),
                actor: &actor,
                action: "merged",
                from_state: Some(d.state.as_str()),
                to_state: Some(d.state.as_str()),
                note: Some(&merged_note),
                detail: Some(serde_json::json!({"merged_into": primary}).to_string()),
                at: now_db,
            });
        }
        audit::append_all(conn, &entries)?;
        Ok(target)
    })
}

fn external_no(conn: &mut Conn, case: &Case) -> AppResult<Option<String>> {
    use crate::storage::schema::complaints;
    Ok(match case.complaint_id {
        Some(id) => db_run!(conn, |c| complaints::table.find(id).select(complaints::external_no).first(c).optional())?,
        None => None,
    })
}

/// The duplicates of `primary` close with it, inside the caller's transaction: each takes the
/// primary's approved reply and tells its own source (`case.state_changed`, `case.replied`,
/// `case.closed`).
pub fn close_merged(conn: &mut Conn, primary: &Case, actor: &str, now: DateTime<Utc>) -> AppResult<()> {
    let open: Vec<Case> = db_run!(conn, |c| cases::table
        .filter(cases::merged_into.eq(primary.id))
        .filter(cases::closed_at.is_null())
        .order(cases::id)
        .select(Case::as_select())
        .load(c))?;
    if open.is_empty() {
        return Ok(());
    }
    let now_db = clock::to_db(now);
    let ids: Vec<i64> = open.iter().map(|c| c.id).collect();
    db_run!(conn, |c| diesel::update(cases::table.filter(cases::id.eq_any(&ids)))
        .set((
            cases::state.eq(CaseState::Closed),
            cases::reply_text.eq(&primary.reply_text),
            cases::replied_at.eq(primary.replied_at),
            cases::closed_at.eq(Some(now_db)),
            cases::stage_due.eq(None::<chrono::NaiveDateTime>),
            cases::updated_at.eq(now_db),
        ))
        .execute(c))?;
    let at = clock::rfc3339_local(now_db);
    let mut events = Vec::new();
    for case in &open {
        events.push(CaseEvent {
            event: WebhookEvent::CaseStateChanged,
            case_id: case.id,
            data: serde_json::json!({"from": case.state.as_str(), "to": "closed", "action": "close_merged", "action_label": "随并单主案办结",
                "actor_role": "supervisor", "note": null, "merged_into": primary.id}),
        });
        if primary.reply_text.is_some() {
            events.push(CaseEvent {
                event: WebhookEvent::CaseReplied,
                case_id: case.id,
                data: serde_json::json!({"reply": primary.reply_text, "replied_at": primary.replied_at.map(clock::rfc3339_local), "approved_at": at, "merged_into": primary.id}),
            });
        }
        events.push(CaseEvent { event: WebhookEvent::CaseClosed, case_id: case.id, data: serde_json::json!({"closed_at": at, "action": "close_merged", "merged_into": primary.id}) });
    }
    webhooks::queue(conn, &events, now)?;
    // Each work order's contact hears the reply, as the case that stays does.
    for case in &open {
        let closed = Case { reply_text: primary.reply_text.clone(), replied_at: primary.replied_at, state: CaseState::Closed, ..case.clone() };
        crate::adapters::sms::outbox::queue_reply(conn, &closed, now)?;
    }
    let note = format!("随并单主案 #{} 办结", primary.id);
    let entries: Vec<AuditEntry<'_>> = open
        .iter()
        .map(|case| AuditEntry {
            case_id: Some(case.id),
            actor,
            action: "close_merged",
            from_state: Some(case.state.as_str()),
            to_state: Some(CaseState::Closed.as_str()),
            note: Some(&note),
            detail: Some(serde_json::json!({"merged_into": primary.id}).to_string()),
            at: now_db,
        })
        .collect();
    audit::append_all(conn, &entries)?;
    Ok(())
}

/// 协办: sets the departments co-handling a case (supervisors), replacing the earlier set.
/// Returns their codes.
pub fn set_co_departments(conn: &mut Conn, principal: &Principal, id: i64, codes: &[String], now: DateTime<Utc>) -> AppResult<Vec<String>> {
    require_supervisor(principal)?;
    if codes.len() > 20 {
        return Err(AppError::invalid("department_codes", "at most 20 departments"));
    }
    let actor = principal.actor_label();
    conn.transaction(|conn| {
        let case = lock_case(conn, id)?;
        let mut department_ids = Vec::with_capacity(codes.len());
        for code in codes {
            let department = queries::department_by_code(conn, code)?.ok_or_else(|| AppError::unknown_code("department_codes", code))?;
            if case.department_id == Some(department.id) {
                return Err(AppError::invalid("department_codes", format!("{code} handles the case (主办); a co-handling department is another one")));
            }
            if !department_ids.contains(&department.id) {
                department_ids.push(department.id);
            }
        }
        let now_db = clock::to_db(now);
        db_run!(conn, |c| diesel::delete(case_co_departments::table.filter(case_co_departments::case_id.eq(id))).execute(c))?;
        let rows: Vec<_> = department_ids
            .iter()
            .map(|&d| {
                (
                    case_co_departments::case_id.eq(id),
                    case_co_departments::department_id.eq(d),
                    case_co_departments::added_by.eq(&actor),
                    case_co_departments::added_at.eq(now_db),
                )
            })
            .collect();
        if !rows.is_empty() {
            db_run!(conn, |c| diesel::insert_into(case_co_departments::table).values(&rows).execute(c))?;
        }
        let codes = co_department_codes(conn, id)?;
        let note = if codes.is_empty() { "取消协办部门".to_owned() } else { format!("协办部门：{}", codes.join("、")) };
        audit::append(
            conn,
            AuditEntry {
                case_id: Some(id),
                actor: &actor,
                action: "co_departments",
                from_state: None,
                to_state: None,
                note: Some(&note),
                detail: Some(serde_json::json!({"department_codes": codes}).to_string()),
                at: now_db,
            },
        )?;
        Ok(codes)
    })
}

/// A note on the case's timeline, changing nothing else: by the handling department, a
/// co-handling one, or a supervisor.
pub fn add_note(conn: &mut Conn, principal: &Principal, id: i64, note: &str, now: DateTime<Utc>) -> AppResult<()> {
    let note = note.trim();
    if note.is_empty() {
        return Err(AppError::invalid("note", "must not be blank"));
    }
    check_text("note", note, MAX_NOTE_CHARS)?;
    if !matches!(principal, Principal::User { role: Role::Department | Role::Supervisor, .. }) {
        return Err(AppError::Forbidden("notes are added by the departments on the case and supervisors".into()));
    }
    let actor = principal.actor_label();
    conn.transaction(|conn| {
        let case = lock_case(conn, id)?;
        ensure_visible(conn, principal, &case)?;
        audit::append(
            conn,
            AuditEntry { case_id: Some(id), actor: &actor, action: "note", from_state: None, to_state: None, note: Some(note), detail: None, at: clock::to_db(now) },
        )?;
        Ok(())
    })
}

/// 退单: a department returns a case it says is not its own, with the reason; kept so that
/// returns can be counted per department.
pub fn record_return(conn: &mut Conn, case: &Case, reason: &str, now: DateTime<Utc>) -> AppResult<()> {
    let Some(department_id) = case.department_id else { return Ok(()) };
    db_run!(conn, |c| diesel::insert_into(case_returns::table)
        .values((
            case_returns::case_id.eq(case.id),
            case_returns::department_id.eq(department_id),
            case_returns::reason.eq(reason),
            case_returns::at.eq(clock::to_db(now)),
        ))
        .execute(c))?;
    Ok(())
}
