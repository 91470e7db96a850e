//! `GET /api/v1/search`: full-text search over review comments, complaint texts and replies
//! (`insight::search`), for staff. Read from the primary: a text is found as soon as it is
//! stored, which a lagging replica would not promise.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::error::AppResult;
use crate::insight::search::{self, SearchPage, SearchRequest};
use crate::interfaces::app::AppState;

use super::extract::Caller;
use super::reports::stats_scope;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// The words to find (1 to 100 characters), cut by jieba with the service's dictionary;
    /// a text matches when it has every word. Empty or too long: 400.
    pub q: Option<String>,
    /// First day, `YYYY-MM-DD` (Beijing time, inclusive); default: no bound.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (inclusive); default: no bound.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// One department's texts (a department's own users see only theirs anyway).
    pub department_code: Option<String>,
    /// `bad` (1–2 stars), `basic` (3), `good` (4–5), `1`..`5` or `all`; a grade keeps reviews
    /// and the replies to them (complaints have none).
    #[param(pattern = "^(bad|basic|good|all|[1-5])$")]
    pub grade: Option<String>,
    /// `review` (comments), `complaint`, `reply` or `all`.
    #[param(pattern = "^(review|complaint|reply|all)$")]
    pub source: Option<String>,
    /// Only the comments of one topic (`GET /api/v1/topics`).
    pub topic: Option<i64>,
    /// Page, from 1 (default); only the first 1 000 hits are paged.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// Hits a page: 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// Newest first; each hit with its case, 办件 number, the plain text, a highlighted snippet and
/// the character offsets of its matches.
#[utoipa::path(get, path = "/api/v1/search", params(SearchQuery), responses((status = 200, body = SearchPage)), security(("bearer" = [])))]
pub async fn search(state: web::Data<AppState>, caller: Caller, query: web::Query<SearchQuery>) -> AppResult<HttpResponse> {
    let scope = stats_scope(&caller.0)?;
    let q = query.into_inner();
    let request = SearchRequest {
        q: q.q.unwrap_or_default(),
        from: q.from,
        to: q.to,
        department_code: q.department_code,
        grade: q.grade,
        source: q.source,
        topic: q.topic,
        page: q.page,
        limit: q.limit,
    };
    let page = state.db(move |conn, _| search::search(conn, scope, &request)).await?;
    Ok(HttpResponse::Ok().json(page))
}
