//! Cases: opening one for a bad review or a complaint, and how a case reads to each caller.

use crate::domain::calendar::local_date;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::domain::access::Principal;
use crate::domain::rules::Rules;
use crate::clock::{self, rfc3339_local};
use crate::db_run;
use crate::domain::case_flow::{allowed_actions, Actor, CaseFacts, CaseState, Extension};
use crate::domain::masking::{mask_name, mask_phone};
use crate::domain::sla::{alert_level, due_soon_before, overdue_days, AlertLevel, Deadlines, Stage};
use crate::error::{AppError, AppResult};
use crate::domain::access::Role;
use crate::storage::audit::{self, AuditEntry};
use crate::storage::models::{AuditEvent, Case, NewCase};
use crate::storage::schema::{audit_events, case_co_departments, cases, complaints, departments, reviews, service_items, staff, transactions, windows};
use crate::storage::personal_data::PersonalText;
use crate::storage::{queries, Conn};
use crate::adapters::webhooks::outbox::{self as webhooks, CaseEvent};
use crate::domain::webhook_events::WebhookEvent;

/// What a new case is about and who handles it.
#[derive(Debug, Clone)]
pub struct OpenCase<'a> {
    /// `review` or the complaint's source.
    pub source: &'a str,
    pub review_id: Option<i64>,
    pub complaint_id: Option<i64>,
    pub department_id: Option<i64>,
    pub window_id: Option<i64>,
    pub staff_id: Option<i64>,
    /// A work order's own 承诺时限 for the reply.
    pub committed_reply_due: Option<DateTime<Utc>>,
}

/// Opens a case in `feedback` with its deadlines, logs it and queues the department's mail,
/// all inside the caller's transaction.
pub fn open_case(conn: &mut Conn, spec: &OpenCase<'_>, actor: &str, now: DateTime<Utc>, rules: &Rules) -> AppResult<i64> {
    let (id, opened) = open_case_unaudited(conn, spec, actor, now, rules)?;
    // Last: the audit chain is one sequence, locked from the append to the commit, so every
    // other statement runs before other writers have to wait for it.
    audit::append(conn, opened)?;
    Ok(id)
}

/// [`open_case`] without its audit event, which it returns for the caller to append (with
/// others, at the end of its transaction): the case row and its mail.
pub fn open_case_unaudited<'a>(
    conn: &mut Conn,
    spec: &OpenCase<'_>,
    actor: &'a str,
    now: DateTime<Utc>,
    rules: &Rules,
) -> AppResult<(i64, AuditEntry<'a>)> {
    let (new, feedback_due) = new_case(spec, now, rules);
    let id: i64 = db_run!(conn, |c| diesel::insert_into(cases::table)
        .values(&new)
        .returning(cases::id)
        .get_result(c))?;
    if let Some(department_id) = spec.department_id {
        crate::adapters::mail::outbox::queue_new_cases(conn, &[(id, department_id, feedback_due)], now)?;
    }
    webhooks::queue(conn, &[opened_webhook(id, &new)], now)?;
    Ok((id, opened_event(id, actor, now)))
}

/// Many cases at once, each `(spec, actor, now, rules)`: one multi-row INSERT on PostgreSQL,
/// one lookup of the departments' addresses and one INSERT of their mails. Returns the case
/// ids in order and their audit events, for the caller to append last.
pub fn open_cases_unaudited<'a>(conn: &mut Conn, opening: &[(OpenCase<'_>, &'a str, DateTime<Utc>, &Rules)]) -> AppResult<(Vec<i64>, Vec<AuditEntry<'a>>)> {
    if opening.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let (rows, feedback_dues): (Vec<NewCase<'_>>, Vec<DateTime<Utc>>) = opening.iter().map(|(spec, _, now, rules)| new_case(spec, *now, rules)).unzip();
    let ids: Vec<i64> = match conn {
        Conn::Postgres(c) => diesel::insert_into(cases::table).values(&rows).returning(cases::id).get_results(&mut **c)?,
        // No round trips to save on SQLite; one statement per row keeps the ids in order.
        Conn::Sqlite(c) => {
            let mut ids = Vec::with_capacity(rows.len());
            for row in &rows {
                ids.push(diesel::insert_into(cases::table).values(row).returning(cases::id).get_result(&mut **c)?);
            }
            ids
        }
    };
    if ids.len() != opening.len() {
        return Err(AppError::internal(anyhow::anyhow!("{} cases inserted for {} opened", ids.len(), opening.len())));
    }
    let mails: Vec<(i64, i64, DateTime<Utc>)> = ids
        .iter()
        .zip(opening)
        .zip(&feedback_dues)
        .filter_map(|((&id, (spec, ..)), &due)| spec.department_id.map(|d| (id, d, due)))
        .collect();
    let newest = opening.iter().map(|(_, _, now, _)| *now).max().unwrap_or_else(clock::now);
    crate::adapters::mail::outbox::queue_new_cases(conn, &mails, newest)?;
    let announced: Vec<CaseEvent> = ids.iter().zip(&rows).map(|(&id, row)| opened_webhook(id, row)).collect();
    webhooks::queue(conn, &announced, newest)?;
    let events = ids.iter().zip(opening).map(|(&id, (_, actor, now, _))| opened_event(id, *actor, *now)).collect();
    Ok((ids, events))
}

/// The row of a case opened now in `feedback`, and its feedback deadline.
fn new_case<'s>(spec: &OpenCase<'s>, now: DateTime<Utc>, rules: &Rules) -> (NewCase<'s>, DateTime<Utc>) {
    let deadlines = Deadlines::compute(now, None, false, &rules.policy(spec.source), &rules.calendar).with_committed_reply(spec.committed_reply_due, false);
    let now_db = clock::to_db(now);
    let row = NewCase {
        source: spec.source,
        review_id: spec.review_id,
        complaint_id: spec.complaint_id,
        department_id: spec.department_id,
        window_id: spec.window_id,
        staff_id: spec.staff_id,
        state: CaseState::Feedback,
        opened_at: now_db,
        feedback_due: Some(clock::to_db(deadlines.feedback)),
        reply_due: Some(clock::to_db(deadlines.reply)),
        supervision_due: None,
        stage_due: Some(clock::to_db(deadlines.feedback)),
        extension: Extension::None,
        cycle_started_at: now_db,
        updated_at: now_db,
        committed_reply_due: spec.committed_reply_due.map(clock::to_db),
    };
    (row, deadlines.feedback)
}

/// `case.opened`: when it opened and what is due.
fn opened_webhook(case_id: i64, row: &NewCase<'_>) -> CaseEvent {
    CaseEvent {
        event: WebhookEvent::CaseOpened,
        case_id,
        data: serde_json::json!({
            "opened_at": rfc3339_local(row.opened_at),
            "feedback_due": row.feedback_due.map(rfc3339_local),
            "reply_due": row.reply_due.map(rfc3339_local),
        }),
    }
}

fn opened_event(case_id: i64, actor: &str, now: DateTime<Utc>) -> AuditEntry<'_> {
    AuditEntry {
        case_id: Some(case_id),
        actor,
        action: "open",
        from_state: None,
        to_state: Some(CaseState::Feedback.as_str()),
        note: None,
        detail: None,
        at: clock::to_db(now),
    }
}

/// The state machine's view of who is asking.
pub fn actor_for(principal: &Principal, case: &Case) -> Actor {
    match principal {
        Principal::User { role: Role::Department, department_id, .. } => {
            Actor::Department { own: department_id.is_some() && *department_id == case.department_id }
        }
        Principal::User { role: Role::Supervisor, .. } => Actor::Supervisor,
        Principal::Citizen { .. } => Actor::Citizen,
        _ => Actor::Other,
    }
}

pub fn facts_of(case: &Case) -> AppResult<CaseFacts> {
    Ok(CaseFacts {
        state: case.state,
        extension: case.extension,
        has_department: case.department_id.is_some(),
        from_review: case.review_id.is_some(),
    })
}

/// The alert on a case's running stage at `now`, and the working days it is overdue.
pub fn alert_of(case: &Case, now: DateTime<Utc>, rules: &Rules) -> (Option<AlertLevel>, u32) {
    match case.stage_due {
        Some(due) => {
            let due = clock::from_db(due);
            (alert_level(now, due, &rules.calendar), overdue_days(now, due, &rules.calendar))
        }
        None => (None, 0),
    }
}

/// Who may read a case: supervisors and admins all; department users their own and those
/// their department co-handles (协办). Another department's case is reported as not found so
/// that its existence does not leak.
pub fn ensure_visible(conn: &mut Conn, principal: &Principal, case: &Case) -> AppResult<()> {
    match principal {
        Principal::User { role: Role::Admin | Role::Supervisor, .. } => Ok(()),
        Principal::User { role: Role::Department, department_id: Some(d), .. } if case.department_id == Some(*d) => {
            Ok(())
        }
        Principal::User { role: Role::Department, department_id: Some(d), .. } if is_co_department(conn, case.id, *d)? => Ok(()),
        Principal::User { role: Role::Department, .. } => Err(AppError::NotFound(format!("no case {}", case.id))),
        _ => Err(AppError::Forbidden("cases are read by staff only".into())),
    }
}

/// Reads the case and locks its row until the transaction ends (PostgreSQL); SQLite's
/// `BEGIN IMMEDIATE` already serialises writers.
pub fn lock_case(conn: &mut Conn, id: i64) -> AppResult<Case> {
    let case = match conn {
        Conn::Postgres(c) => cases::table.find(id).select(Case::as_select()).for_update().first(&mut **c).optional()?,
        Conn::Sqlite(c) => cases::table.find(id).select(Case::as_select()).first(&mut **c).optional()?,
    };
    case.ok_or_else(|| AppError::NotFound(format!("no case {id}")))
}

/// Whether `department_id` co-handles (协办) the case.
pub fn is_co_department(conn: &mut Conn, case_id: i64, department_id: i64) -> AppResult<bool> {
    let found: Option<i64> = db_run!(conn, |c| case_co_departments::table
        .filter(case_co_departments::case_id.eq(case_id))
        .filter(case_co_departments::department_id.eq(department_id))
        .select(case_co_departments::department_id)
        .first(c)
        .optional())?;
    Ok(found.is_some())
}

/// The codes of the departments co-handling a case.
pub fn co_department_codes(conn: &mut Conn, case_id: i64) -> AppResult<Vec<String>> {
    Ok(db_run!(conn, |c| case_co_departments::table
        .inner_join(departments::table.on(departments::id.eq(case_co_departments::department_id)))
        .filter(case_co_departments::case_id.eq(case_id))
        .order(departments::code)
        .select(departments::code)
        .load(c))?)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadlinesView {
    pub feedback: Option<String>,
    pub reply: Option<String>,
    pub supervision: Option<String>,
    /// A deadline falls in a year whose working-day calendar is provisional (generated from the
    /// statutory holidays until the State Council's notice is entered): it may still move.
    pub provisional: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewSummary {
    pub id: i64,
    pub stars: i32,
    pub level: String,
    pub tags: Vec<String>,
    pub comment: Option<String>,
    pub channel: String,
    pub anonymous: bool,
    pub invalidated: bool,
    pub rated_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ComplaintSummary {
    pub id: i64,
    pub source: String,
    pub external_no: String,
    pub title: Option<String>,
    pub content: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub received_at: String,
    pub routed_by: String,
    pub route_suggestions: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TransactionSummary {
    pub transaction_no: String,
    pub service_item_code: String,
    pub service_item_name: String,
    pub channel: String,
    pub window_code: Option<String>,
    pub staff_no: Option<String>,
    pub staff_name: Option<String>,
    pub applicant_name: Option<String>,
    pub applicant_phone: Option<String>,
    pub completed_at: String,
}

/// A case as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    pub id: i64,
    pub state: String,
    pub state_label: String,
    pub source: String,
    pub department_code: Option<String>,
    pub department_name: Option<String>,
    pub opened_at: String,
    pub deadlines: DeadlinesView,
    /// `due_soon`, `overdue` or null.
    pub alert: Option<String>,
    pub overdue_days: u32,
    pub extension: String,
    pub allowed_actions: Vec<String>,
    pub reply: Option<String>,
    /// 答复提示: what the reply checks found in the current reply (given despite them); empty
    /// when nothing.
    pub reply_warnings: Vec<crate::domain::reply_checks::ReplyWarning>,
    pub replied_at: Option<String>,
    pub closed_at: Option<String>,
    pub review: Option<ReviewSummary>,
    pub complaint: Option<ComplaintSummary>,
    pub transaction: Option<TransactionSummary>,
    /// A work order's own 承诺时限 for the reply, when it carried one.
    pub committed_reply_due: Option<String>,
    /// 并单: the case this one was merged into (it closes with that case).
    pub merged_into: Option<i64>,
    /// 并单: the duplicates merged into this case.
    pub merged_cases: Vec<i64>,
    /// 协办: departments that co-handle the case (they read it and add notes; the handling
    /// department replies).
    pub co_departments: Vec<String>,
    pub timeline: Vec<TimelineEntry>,
}

fn opt_time(t: Option<NaiveDateTime>) -> Option<String> {
    t.map(rfc3339_local)
}

/// Each view of unmasked personal data goes on the access log (`GET /api/v1/access-log`).
fn record_personal_data_view(conn: &mut Conn, viewer: &Principal, case_id: i64, fields: &[&str], now: DateTime<Utc>) -> AppResult<()> {
    use crate::storage::schema::personal_data_views;
    let username = match viewer {
        Principal::User { username, .. } => username.clone(),
        other => other.actor_label(),
    };
    db_run!(conn, |c| diesel::insert_into(personal_data_views::table)
        .values((
            personal_data_views::at.eq(clock::to_db(now)),
            personal_data_views::actor.eq(viewer.actor_label()),
            personal_data_views::username.eq(username),
            personal_data_views::case_id.eq(case_id),
            personal_data_views::fields.eq(fields.join(",")),
        ))
        .execute(c))?;
    Ok(())
}

/// Contact data is shown in full only to the handling department (SPEC §7).
fn sees_contact_data(principal: &Principal, case: &Case) -> bool {
    matches!(principal, Principal::User { role: Role::Department, department_id: Some(d), .. }
        if case.department_id == Some(*d))
}

pub fn case_view(conn: &mut Conn, principal: &Principal, case: &Case, now: DateTime<Utc>, rules: &Rules) -> AppResult<CaseView> {
    let facts = facts_of(case)?;
    let department = match case.department_id {
        Some(id) => queries::department_by_id(conn, id)?,
        None => None,
    };
    let (alert, overdue) = alert_of(case, now, rules);
    let full_contact = sees_contact_data(principal, case);
    let phone = |p: Option<PersonalText>| p.map(|p| if full_contact { p.0 } else { mask_phone(&p) });
    let name = |n: Option<PersonalText>| n.map(|n| if full_contact { n.0 } else { mask_name(&n) });

    let mut review_summary = None;
    let mut transaction_id = None;
    // An anonymous reviewer's name and phone are shown to no one, the department included.
    let mut anonymous = false;
    if let Some(review_id) = case.review_id {
        let r: crate::storage::models::Review = db_run!(conn, |c| reviews::table
            .find(review_id)
            .select(crate::storage::models::Review::as_select())
            .first(c))?;
        transaction_id = Some(r.transaction_id);
        anonymous = r.anonymous;
        review_summary = Some(ReviewSummary {
            id: r.id,
            stars: r.stars,
            level: crate::domain::grade::Stars::parse(i64::from(r.stars)).map(|s| s.level_name().to_owned()).unwrap_or_default(),
            tags: serde_json::from_str(&r.tags).unwrap_or_default(),
            comment: r.comment,
            channel: r.channel,
            anonymous: r.anonymous,
            invalidated: r.invalidated,
            rated_at: rfc3339_local(r.rated_at),
        });
    }
    let mut complaint_summary = None;
    if let Some(complaint_id) = case.complaint_id {
        let cp: crate::storage::models::Complaint = db_run!(conn, |c| complaints::table
            .find(complaint_id)
            .select(crate::storage::models::Complaint::as_select())
            .first(c))?;
        transaction_id = transaction_id.or(cp.transaction_id);
        complaint_summary = Some(ComplaintSummary {
            id: cp.id,
            source: cp.source,
            external_no: cp.external_no,
            title: cp.title,
            content: cp.content,
            contact_name: name(cp.contact_name),
            contact_phone: phone(cp.contact_phone),
            received_at: rfc3339_local(cp.received_at),
            routed_by: cp.routed_by,
            route_suggestions: cp.route_suggestions.and_then(|s| serde_json::from_str(&s).ok()),
        });
    }
    let transaction_summary = match transaction_id {
        Some(tid) => {
            let row: (crate::storage::models::Transaction, String, String, Option<String>, Option<String>, Option<String>) =
                db_run!(conn, |c| transactions::table
                    .find(tid)
                    .inner_join(service_items::table)
                    .left_join(windows::table)
                    .left_join(staff::table.on(transactions::staff_id.eq(staff::id.nullable())))
                    .select((
                        crate::storage::models::Transaction::as_select(),
                        service_items::code,
                        service_items::name,
                        windows::code.nullable(),
                        staff::staff_no.nullable(),
                        staff::name.nullable(),
                    ))
                    .first(c))?;
            let (t, item_code, item_name, window_code, staff_no, staff_name) = row;
            Some(TransactionSummary {
                transaction_no: t.transaction_no,
                service_item_code: item_code,
                service_item_name: item_name,
                channel: t.channel,
                window_code,
                staff_no,
                staff_name,
                applicant_name: if anonymous { None } else { name(t.applicant_name) },
                applicant_phone: if anonymous { None } else { phone(t.applicant_phone) },
                completed_at: rfc3339_local(t.completed_at),
            })
        }
        None => None,
    };
    if full_contact {
        let mut shown = Vec::new();
        if let Some(c) = &complaint_summary {
            shown.extend([("contact_name", c.contact_name.is_some()), ("contact_phone", c.contact_phone.is_some())]);
        }
        if let Some(t) = &transaction_summary {
            shown.extend([("applicant_name", t.applicant_name.is_some()), ("applicant_phone", t.applicant_phone.is_some())]);
        }
        let fields: Vec<&str> = shown.into_iter().filter(|(_, present)| *present).map(|(field, _)| field).collect();
        if !fields.is_empty() {
            record_personal_data_view(conn, principal, case.id, &fields, now)?;
        }
    }
    let events: Vec<AuditEvent> = db_run!(conn, |c| audit_events::table
        .filter(audit_events::case_id.eq(case.id))
        .order(audit_events::id.asc())
        .select(AuditEvent::as_select())
        .load(c))?;
    let actor = actor_for(principal, case);
    let merged_cases: Vec<i64> = db_run!(conn, |c| cases::table.filter(cases::merged_into.eq(case.id)).order(cases::id).select(cases::id).load(c))?;
    let co_departments = co_department_codes(conn, case.id)?;
    // A merged duplicate is acted on through the case it was merged into.
    let allowed = if case.merged_into.is_some() { Vec::new() } else { allowed_actions(&facts, actor) };
    Ok(CaseView {
        id: case.id,
        state: case.state.as_str().to_owned(),
        state_label: facts.state.label().to_owned(),
        source: case.source.clone(),
        department_code: department.as_ref().map(|d| d.code.clone()),
        department_name: department.map(|d| d.name),
        opened_at: rfc3339_local(case.opened_at),
        deadlines: DeadlinesView {
            feedback: opt_time(case.feedback_due),
            reply: opt_time(case.reply_due),
            supervision: opt_time(case.supervision_due),
            provisional: [case.feedback_due, case.reply_due, case.supervision_due]
                .into_iter()
                .flatten()
                .any(|due| rules.calendar.is_provisional(local_date(clock::from_db(due)))),
        },
        alert: alert.map(|a| a.as_str().to_owned()),
        overdue_days: overdue,
        extension: case.extension.as_str().to_owned(),
        allowed_actions: allowed.iter().map(|a| a.as_str().to_owned()).collect(),
        reply: case.reply_text.clone(),
        reply_warnings: crate::cases::reply_checks::stored(case),
        replied_at: opt_time(case.replied_at),
        closed_at: opt_time(case.closed_at),
        review: review_summary,
        complaint: complaint_summary,
        transaction: transaction_summary,
        committed_reply_due: opt_time(case.committed_reply_due),
        merged_into: case.merged_into,
        merged_cases,
        co_departments,
        timeline: events
            .into_iter()
            .map(|e| TimelineEntry {
                at: rfc3339_local(e.at),
                actor: e.actor,
                action: e.action,
                from: e.from_state,
                to: e.to_state,
                note: e.note,
            })
            .collect(),
    })
}

#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CaseFilter {
    #[param(value_type = Option<crate::domain::case_flow::CaseState>)]
    pub state: Option<String>,
    /// Department code.
    pub department: Option<String>,
    /// `due_soon` or `overdue`.
    #[param(pattern = "^(due_soon|overdue)$")]
    pub alert: Option<String>,
    /// `review` or a complaint source.
    #[param(pattern = "^(review|hotline_12345|state_council|unresolved_window|other)$")]
    pub source: Option<String>,
    /// `requested` lists cases whose extension waits for a supervisor's decision.
    #[param(value_type = Option<crate::domain::case_flow::Extension>)]
    pub extension: Option<String>,
    /// `true` lists cases in `feedback` whose department asked for reassignment this cycle.
    pub reassign_requested: Option<bool>,
    /// The citizen's phone (any punctuation): the cases of the 办件 or complaint that gave it,
    /// found by its keyed hash (the phone itself is stored sealed).
    #[param(max_length = 32, pattern = "^[0-9+() -]{3,32}$")]
    pub phone: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// The order: `due` (the running deadline, the default: most urgent first), `opened`
    /// (立案时间), `state` or `id`.
    #[param(pattern = "^(due|opened|state|id)$")]
    pub sort: Option<String>,
    /// `asc` (the default for `due`, `state`) or `desc` (the default for `opened`, `id`).
    #[param(pattern = "^(asc|desc)$")]
    pub dir: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseListItem {
    pub id: i64,
    pub state: String,
    pub state_label: String,
    pub source: String,
    pub department_code: Option<String>,
    pub department_name: Option<String>,
    pub opened_at: String,
    pub due_at: Option<String>,
    pub alert: Option<String>,
    pub overdue_days: u32,
    pub stars: Option<i32>,
    pub summary: String,
    /// 答复提示: what the reply checks found in the current reply, so the audit queue shows the
    /// replies given despite a warning; empty when nothing.
    pub reply_warnings: Vec<crate::domain::reply_checks::ReplyWarning>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseList {
    pub items: Vec<CaseListItem>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// Lists cases the caller may see, most urgent first (earliest running deadline, then newest).
pub fn list_cases(conn: &mut Conn, principal: &Principal, filter: &CaseFilter, now: DateTime<Utc>, rules: &Rules) -> AppResult<CaseList> {
    let limit = filter.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("limit", "must be 1 to 500"));
    }
    let offset = filter.offset.unwrap_or(0);
    if offset < 0 {
        return Err(AppError::invalid("offset", "must not be negative"));
    }
    let department_scope = match principal {
        Principal::User { role: Role::Admin | Role::Supervisor, .. } => match &filter.department {
            Some(code) if code == "unassigned" => Some(None),
            Some(code) => Some(Some(
                queries::department_by_code(conn, code)?.ok_or_else(|| AppError::unknown_code("department", code))?.id,
            )),
            None => None,
        },
        Principal::User { role: Role::Department, department_id: Some(d), .. } => Some(Some(*d)),
        _ => return Err(AppError::Forbidden("cases are read by staff only".into())),
    };
    // A department user's inbox holds the cases it co-handles too.
    let with_co_handled = matches!(principal, Principal::User { role: Role::Department, .. });
    if let Some(s) = &filter.state {
        if CaseState::parse(s).is_none() {
            return Err(AppError::invalid("state", format!("unknown state {s:?}")));
        }
    }
    if let Some(e) = &filter.extension {
        if Extension::parse(e).is_none() {
            return Err(AppError::invalid("extension", format!("unknown extension state {e:?}")));
        }
    }
    let sort = filter.sort.as_deref().unwrap_or("due");
    if !matches!(sort, "due" | "opened" | "state" | "id") {
        return Err(AppError::invalid("sort", format!("due, opened, state or id, not {sort:?}")));
    }
    let descending = match filter.dir.as_deref() {
        None => matches!(sort, "opened" | "id"),
        Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(AppError::invalid("dir", format!("asc or desc, not {other:?}"))),
    };
    let now_db = clock::to_db(now);
    // The same edge as the case's badge and the scanner's 黄灯: due before the second working day.
    let soon_db = clock::to_db(due_soon_before(now, &rules.calendar));
    if let Some(source) = &filter.source {
        if source != "review" && crate::domain::intake_rules::ComplaintSource::parse(source).is_none() {
            return Err(AppError::invalid("source", format!("review or a complaint source, not {source:?}")));
        }
    }
    let alert = match filter.alert.as_deref() {
        None => None,
        Some("overdue") => Some(AlertLevel::Overdue),
        Some("due_soon") => Some(AlertLevel::DueSoon),
        Some(other) => return Err(AppError::invalid("alert", format!("unknown alert {other:?}"))),
    };
    let phone_hashes = match filter.phone.as_deref() {
        None => None,
        Some(phone) => {
            if phone.chars().count() > 32 {
                return Err(AppError::invalid("phone", "at most 32 characters"));
            }
            let hashes = crate::storage::personal_data::lookup_hashes(phone);
            if hashes.is_empty() {
                return Err(AppError::invalid("phone", "a phone number with digits; lookups by phone need HCP_DATA_KEY set"));
            }
            Some(hashes)
        }
    };
    macro_rules! filtered {
        () => {{
            let mut q = cases::table.left_join(departments::table).into_boxed();
            if let Some(hashes) = &phone_hashes {
                // An anonymous review is not found by its applicant's phone: nobody may learn who left it.
                q = q.filter(
                    diesel::dsl::exists(
                        reviews::table
                            .inner_join(transactions::table.on(transactions::id.eq(reviews::transaction_id)))
                            .filter(reviews::id.nullable().eq(cases::review_id))
                            .filter(reviews::anonymous.eq(false))
                            .filter(transactions::applicant_phone_hash.eq_any(hashes.clone())),
                    )
                    .or(diesel::dsl::exists(
                        complaints::table
                            .filter(complaints::id.nullable().eq(cases::complaint_id))
                            .filter(complaints::contact_phone_hash.eq_any(hashes.clone())),
                    )),
                );
            }
            if let Some(scope) = department_scope {
                q = match scope {
                    Some(d) if with_co_handled => q.filter(cases::department_id.eq(d).or(diesel::dsl::exists(
                        case_co_departments::table
                            .filter(case_co_departments::case_id.eq(cases::id))
                            .filter(case_co_departments::department_id.eq(d)),
                    ))),
                    Some(d) => q.filter(cases::department_id.eq(d)),
                    None => q.filter(cases::department_id.is_null()),
                };
            }
            if let Some(s) = &filter.state {
                q = q.filter(cases::state.eq(s.clone()));
            }
            if let Some(src) = &filter.source {
                q = q.filter(cases::source.eq(src.clone()));
            }
            if let Some(e) = &filter.extension {
                q = q.filter(cases::extension.eq(e.clone())).filter(cases::state.ne(CaseState::Closed));
            }
            if filter.reassign_requested == Some(true) {
                q = q.filter(cases::state.eq(CaseState::Feedback)).filter(diesel::dsl::exists(
                    audit_events::table
                        .filter(audit_events::case_id.eq(cases::id.nullable()))
                        .filter(audit_events::action.eq("request_reassign"))
                        .filter(audit_events::at.ge(cases::cycle_started_at)),
                ));
            }
            match alert {
                Some(AlertLevel::Overdue | AlertLevel::Escalated) => q = q.filter(cases::stage_due.lt(now_db)),
                Some(AlertLevel::DueSoon) => {
                    q = q.filter(cases::stage_due.ge(now_db)).filter(cases::stage_due.lt(soon_db))
                }
                None => {}
            }
            q
        }};
    }
    let total: i64 = db_run!(conn, |c| filtered!().count().get_result(c))?;
    let rows: Vec<(Case, Option<String>, Option<String>)> = db_run!(conn, |c| {
        let q = filtered!();
        // Cases without a running deadline (closed) last either way; ties newest first.
        let q = match (sort, descending) {
            ("due", false) => q.order((cases::stage_due.is_null(), cases::stage_due.asc(), cases::id.desc())),
            ("due", true) => q.order((cases::stage_due.is_null(), cases::stage_due.desc(), cases::id.desc())),
            ("opened", false) => q.order((cases::opened_at.asc(), cases::id.asc())),
            ("opened", true) => q.order((cases::opened_at.desc(), cases::id.desc())),
            ("state", false) => q.order((cases::state.asc(), cases::stage_due.is_null(), cases::stage_due.asc(), cases::id.desc())),
            ("state", true) => q.order((cases::state.desc(), cases::stage_due.is_null(), cases::stage_due.asc(), cases::id.desc())),
            (_, false) => q.order(cases::id.asc()),
            (_, true) => q.order(cases::id.desc()),
        };
        q.limit(limit)
            .offset(offset)
            .select((Case::as_select(), departments::code.nullable(), departments::name.nullable()))
            .load(c)
    })?;
    let review_ids: Vec<i64> = rows.iter().filter_map(|(c, _, _)| c.review_id).collect();
    let complaint_ids: Vec<i64> = rows.iter().filter_map(|(c, _, _)| c.complaint_id).collect();
    let review_texts: Vec<(i64, i32, Option<String>, String)> = db_run!(conn, |c| reviews::table
        .filter(reviews::id.eq_any(&review_ids))
        .select((reviews::id, reviews::stars, reviews::comment, reviews::tags))
        .load(c))?;
    let complaint_texts: Vec<(i64, Option<String>, String)> = db_run!(conn, |c| complaints::table
        .filter(complaints::id.eq_any(&complaint_ids))
        .select((complaints::id, complaints::title, complaints::content))
        .load(c))?;
    let items = rows
        .into_iter()
        .map(|(case, dept_code, dept_name)| {
            let (alert, overdue) = alert_of(&case, now, rules);
            let (stars, summary) = if let Some(rid) = case.review_id {
                review_texts
                    .iter()
                    .find(|r| r.0 == rid)
                    .map(|(_, stars, comment, tags)| {
                        let tags: Vec<String> = serde_json::from_str(tags).unwrap_or_default();
                        let text = comment.clone().unwrap_or_else(|| tags.join("、"));
                        (Some(*stars), text)
                    })
                    .unwrap_or((None, String::new()))
            } else {
                let text = complaint_texts
                    .iter()
                    .find(|c| Some(c.0) == case.complaint_id)
                    .map(|(_, title, content)| title.clone().unwrap_or_else(|| content.clone()))
                    .unwrap_or_default();
                (None, text)
            };
            CaseListItem {
                reply_warnings: crate::cases::reply_checks::stored(&case),
                id: case.id,
                state_label: case.state.label().to_owned(),
                state: case.state.as_str().to_owned(),
                source: case.source,
                department_code: dept_code,
                department_name: dept_name,
                opened_at: rfc3339_local(case.opened_at),
                due_at: opt_time(case.stage_due),
                alert: alert.map(|a| a.as_str().to_owned()),
                overdue_days: overdue,
                stars,
                summary: summary.chars().take(120).collect(),
            }
        })
        .collect();
    Ok(CaseList { items, total, limit, offset })
}

pub fn stage_due_for(state: CaseState, deadlines: &Deadlines) -> Option<DateTime<Utc>> {
    Stage::of(state).and_then(|s| deadlines.for_stage(s))
}
