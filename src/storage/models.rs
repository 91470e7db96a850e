//! Rows as read from and written to the database.

use super::schema::*;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::case_flow::{CaseState, Extension};
use crate::storage::personal_data::PersonalText;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = departments)]
pub struct Department {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub parent_id: Option<i64>,
    pub email: Option<String>,
    pub created_at: NaiveDateTime,
    /// False once closed or gone; kept for the history that refers to it.
    pub active: bool,
    /// 统一社会信用代码, for the provincial feed.
    pub credit_code: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = departments)]
pub struct NewDepartment<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub parent_id: Option<i64>,
    pub email: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = service_items)]
pub struct ServiceItem {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub department_id: i64,
    pub created_at: NaiveDateTime,
    /// False once closed or gone; kept for the history that refers to it.
    pub active: bool,
    /// 事项统一编码, for the provincial feed.
    pub task_code: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = service_items)]
pub struct NewServiceItem<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub department_id: i64,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = windows)]
pub struct Window {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub hall: String,
    pub created_at: NaiveDateTime,
    /// False once closed or gone; kept for the history that refers to it.
    pub active: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = windows)]
pub struct NewWindow<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub hall: &'a str,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = staff)]
pub struct Staff {
    pub id: i64,
    pub staff_no: String,
    pub name: String,
    pub department_id: i64,
    pub created_at: NaiveDateTime,
    /// False once closed or gone; kept for the history that refers to it.
    pub active: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = staff)]
pub struct NewStaff<'a> {
    pub staff_no: &'a str,
    pub name: &'a str,
    pub department_id: i64,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = assignments)]
pub struct NewAssignment {
    pub window_id: i64,
    pub staff_id: i64,
    pub effective_from: NaiveDateTime,
    pub effective_to: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub department_id: Option<i64>,
    pub email: Option<String>,
    pub created_at: NaiveDateTime,
    /// False once disabled: cannot sign in, holds no token.
    pub active: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub department_id: Option<i64>,
    pub email: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = transactions)]
pub struct Transaction {
    pub id: i64,
    pub transaction_no: String,
    pub service_item_id: i64,
    pub department_id: i64,
    pub window_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub channel: String,
    pub applicant_name: Option<PersonalText>,
    pub applicant_phone: Option<PersonalText>,
    pub applicant_email: Option<String>,
    pub accepted_at: Option<NaiveDateTime>,
    pub completed_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = transactions)]
pub struct NewTransaction<'a> {
    pub transaction_no: &'a str,
    pub service_item_id: i64,
    pub department_id: i64,
    pub window_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub channel: &'a str,
    pub applicant_name: Option<PersonalText>,
    pub applicant_phone: Option<PersonalText>,
    /// [`crate::storage::personal_data::lookup_hash`] of the phone.
    pub applicant_phone_hash: Option<String>,
    pub applicant_email: Option<&'a str>,
    pub accepted_at: Option<NaiveDateTime>,
    pub completed_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reviews)]
pub struct Review {
    pub id: i64,
    pub transaction_id: i64,
    pub stars: i32,
    pub channel: String,
    pub tags: String,
    pub comment: Option<String>,
    pub anonymous: bool,
    pub is_public: bool,
    pub invalidated: bool,
    pub department_id: i64,
    pub service_item_id: i64,
    pub window_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub rated_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    /// The version of its band's tag set it was rated under; `None` before tag sets existed.
    pub tag_set_version: Option<i32>,
    /// 审核状态 of its public comment (`domain::exchange::AuditStatus` codes).
    pub moderation: i32,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = reviews)]
pub struct NewReview<'a> {
    pub transaction_id: i64,
    pub stars: i32,
    pub channel: &'a str,
    pub tags: &'a str,
    pub comment: Option<&'a str>,
    pub anonymous: bool,
    pub is_public: bool,
    pub invalidated: bool,
    pub department_id: i64,
    pub service_item_id: i64,
    pub window_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub rated_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub tag_set_version: Option<i32>,
    pub moderation: i32,
    /// Where it came from (integrity flags): keyed hashes, never the address or device id itself.
    pub address_hash: Option<&'a str>,
    pub device_hash: Option<&'a str>,
    pub staff_session: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = complaints)]
pub struct Complaint {
    pub id: i64,
    pub source: String,
    pub external_no: String,
    pub title: Option<String>,
    pub content: String,
    pub contact_name: Option<PersonalText>,
    pub contact_phone: Option<PersonalText>,
    pub received_at: NaiveDateTime,
    pub department_id: Option<i64>,
    pub service_item_id: Option<i64>,
    pub transaction_id: Option<i64>,
    pub routed_by: String,
    pub route_suggestions: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = complaints)]
pub struct NewComplaint<'a> {
    pub source: &'a str,
    pub external_no: &'a str,
    pub title: Option<&'a str>,
    pub content: &'a str,
    pub contact_name: Option<PersonalText>,
    pub contact_phone: Option<PersonalText>,
    pub contact_phone_hash: Option<String>,
    pub received_at: NaiveDateTime,
    pub department_id: Option<i64>,
    pub service_item_id: Option<i64>,
    pub transaction_id: Option<i64>,
    pub routed_by: &'a str,
    pub route_suggestions: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cases)]
pub struct Case {
    pub id: i64,
    pub source: String,
    pub review_id: Option<i64>,
    pub complaint_id: Option<i64>,
    pub department_id: Option<i64>,
    pub window_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub state: CaseState,
    pub opened_at: NaiveDateTime,
    pub feedback_due: Option<NaiveDateTime>,
    pub reply_due: Option<NaiveDateTime>,
    pub supervision_due: Option<NaiveDateTime>,
    pub stage_due: Option<NaiveDateTime>,
    pub extension: Extension,
    pub cycle_started_at: NaiveDateTime,
    pub reply_text: Option<String>,
    pub replied_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
    /// A work order's own 承诺时限 for the reply, replacing the policy's.
    pub committed_reply_due: Option<NaiveDateTime>,
    /// 并单: the case this duplicate was merged into; it closes with that case.
    pub merged_into: Option<i64>,
    /// What the reply checks found in the current reply (JSON list of
    /// `domain::reply_checks::ReplyWarning`); null when nothing.
    pub reply_warnings: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = cases)]
pub struct NewCase<'a> {
    pub source: &'a str,
    pub review_id: Option<i64>,
    pub complaint_id: Option<i64>,
    pub department_id: Option<i64>,
    pub window_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub state: CaseState,
    pub opened_at: NaiveDateTime,
    pub feedback_due: Option<NaiveDateTime>,
    pub reply_due: Option<NaiveDateTime>,
    pub supervision_due: Option<NaiveDateTime>,
    pub stage_due: Option<NaiveDateTime>,
    pub extension: Extension,
    pub cycle_started_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub committed_reply_due: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub case_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub note: Option<String>,
    pub detail: Option<String>,
    pub at: NaiveDateTime,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbox)]
pub struct NewOutboxMail<'a> {
    pub kind: &'a str,
    pub recipients: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub case_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
}
