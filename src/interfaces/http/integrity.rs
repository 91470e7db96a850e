//! Integrity flags (疑似刷评) for supervisors: the list, and a decision on one. Flags never drop
//! or hide a rating; see `cases::integrity`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::cases::integrity::{self, FlagFilter, FlagList, FlagView, MAX_PER_PAGE};
use crate::clock;
use crate::domain::access::Role;
use crate::domain::integrity::{FlagKind, FlagStatus};
use crate::error::{AppError, AppResult};
use crate::interfaces::app::AppState;

use super::extract::Caller;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FlagQuery {
    /// `open`, `dismissed`, `confirmed`, or `all`; default `open`.
    #[param(pattern = "^(open|dismissed|confirmed|all)$")]
    pub status: Option<String>,
    /// One kind only.
    #[param(pattern = "^(burst_address|burst_device|staff_session|no_bad_ratings|active_share)$")]
    pub kind: Option<String>,
    /// From 1; default 1.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// 1 to 100; default 20.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/integrity/flags", params(FlagQuery),
    responses((status = 200, body = FlagList), (status = 422, description = "unknown status or kind, or a page out of range")),
    security(("bearer" = [])))]
pub async fn list_flags(state: web::Data<AppState>, caller: Caller, query: web::Query<FlagQuery>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let q = query.into_inner();
    let status = match q.status.as_deref() {
        None => Some(FlagStatus::Open),
        Some("all") => None,
        Some(s) => Some(FlagStatus::parse(s).ok_or_else(|| AppError::invalid("status", "open, dismissed, confirmed or all"))?),
    };
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(FlagKind::parse(k).ok_or_else(|| {
            let known: Vec<_> = FlagKind::ALL.iter().map(|k| k.as_str()).collect();
            AppError::invalid("kind", format!("one of {}", known.join(", ")))
        })?),
    };
    let page = q.page.unwrap_or(1);
    if page < 1 {
        return Err(AppError::invalid("page", "from 1"));
    }
    let per_page = q.per_page.unwrap_or(20);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(AppError::invalid("per_page", format!("1 to {MAX_PER_PAGE}")));
    }
    let filter = FlagFilter { status, kind, page, per_page };
    let list = state.db(move |conn, _| integrity::list(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagDecision {
    /// `dismissed` (排除: nothing wrong) or `confirmed` (确认: manufactured). The ratings stay
    /// stored and counted either way.
    #[schema(pattern = "^(dismissed|confirmed)$")]
    pub status: String,
    /// Why, for the audit chain.
    #[schema(min_length = 1, max_length = 500, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub note: String,
}

#[utoipa::path(post, path = "/api/v1/integrity/flags/{id}", params(("id" = i64, Path)), request_body = FlagDecision,
    responses((status = 200, body = FlagView), (status = 404, description = "no such flag"),
              (status = 422, description = "status other than dismissed or confirmed, or no reason")),
    security(("bearer" = [])))]
pub async fn decide_flag(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>, body: web::Json<FlagDecision>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let b = body.into_inner();
    let status = match FlagStatus::parse(&b.status) {
        Some(s @ (FlagStatus::Dismissed | FlagStatus::Confirmed)) => s,
        _ => return Err(AppError::invalid("status", "dismissed or confirmed")),
    };
    let (actor, id) = (caller.0.actor_label(), id.into_inner());
    let decided = state.db(move |conn, _| integrity::decide(conn, id, status, &actor, &b.note, clock::now())).await?;
    Ok(HttpResponse::Ok().json(decided))
}
