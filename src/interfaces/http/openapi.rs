//! `GET /api/openapi.json`, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{access_log, admin, analysis, cases, exchange, intake, integrity, moderation, replies, reports, rules_admin, search, topics, webhooks, workflow};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        components.add_security_scheme("rating_token", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Rating-Token"))));
    }
}

/// The error answer every failure carries.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// `code` names the failure, `message` says what to do; a 422 names its `field`, a 409 may
/// add what it conflicts with (`allowed_actions`, `fields`, `merged_into`…).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    code: String,
    message: String,
    field: Option<String>,
}

/// Every operation documents the failures the stack can answer with, in the error schema: the
/// ones any call can meet (400 malformed, 429 limited, 503 database unavailable), 401/403 where
/// a credential is needed, 404 where a path names a record, 413/415 where a body is read, 422
/// where a value is checked, 409 where a change can conflict. An operation's own description
/// of one of them is kept.
struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Operation, ParameterIn};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |description: &str| -> RefOr<utoipa::openapi::Response> {
            RefOr::T(ResponseBuilder::new().description(description).content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build()).build())
        };
        let add = |op: &mut Operation, write: bool| {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_path = op.parameters.iter().flatten().any(|p| p.parameter_in == ParameterIn::Path);
            let has_query = op.parameters.iter().flatten().any(|p| p.parameter_in == ParameterIn::Query);
            let has_body = op.request_body.is_some();
            let mut codes: Vec<(&str, &str)> = vec![("400", "malformed request: a body or query that does not parse, an unknown field"), ("429", "too many requests; retry after the Retry-After seconds"), ("503", "the database is unavailable or cannot be written; nothing was stored, retry later")];
            if secured {
                codes.push(("401", "no or an invalid credential"));
                codes.push(("403", "this caller's role may not do this"));
            }
            if has_path {
                codes.push(("404", "no such record, or not visible to this caller"));
            }
            if has_body {
                codes.push(("413", "the body is too large"));
                codes.push(("415", "the body is not of the content type this operation reads"));
            }
            if has_body || has_query || has_path {
                codes.push(("422", "a value is not valid; `field` names it"));
            }
            if write {
                codes.push(("409", "conflicts with what is stored"));
            }
            for (code, description) in codes {
                op.responses.responses.entry(code.to_owned()).or_insert_with(|| error(description));
            }
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.head].into_iter().flatten() {
                add(op, false);
            }
            for op in [&mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten() {
                add(op, true);
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "haochaping 好差评 API", description = "Errors are `{\"error\":{\"code\",\"message\"}}`. Times are RFC 3339."),
    paths(
        admin::login, admin::logout, admin::create_department, admin::list_departments, admin::patch_department,
        admin::create_service_item, admin::list_service_items, admin::patch_service_item, admin::list_windows,
        admin::patch_window, admin::list_staff, admin::patch_staff,
        admin::create_window, admin::create_staff, admin::create_assignment, admin::list_assignments, admin::patch_assignment, admin::create_user, admin::create_api_key,
        admin::list_users, admin::patch_user, admin::change_password, admin::list_api_keys, admin::revoke_api_key,
        admin::verify_audit, admin::import, webhooks::create_webhook, webhooks::list_webhooks, webhooks::delete_webhook,
        webhooks::list_deliveries, webhooks::redeliver, webhooks::dead_mails, webhooks::retry_mail, intake::create_transaction, intake::create_transactions_batch, intake::create_review, intake::create_complaint,
        cases::list_cases, cases::get_case, workflow::act_on_case, workflow::merge_cases, workflow::put_co_departments, workflow::add_note, workflow::list_alerts, workflow::create_follow_up,
        analysis::run_clustering, analysis::list_runs, analysis::get_run, analysis::get_label_map, analysis::put_label_map, analysis::suggest,
        rules_admin::get_calendar, rules_admin::put_calendar, rules_admin::list_sla_policies, rules_admin::put_sla_policy, rules_admin::get_rating_policy, rules_admin::put_rating_policy, rules_admin::get_tag_sets, rules_admin::put_tag_set_of,
        reports::get_stats, reports::get_rankings, reports::get_staff_watchlist, reports::get_monthly_report, reports::get_report_versions, reports::regenerate_monthly_report, reports::export_cases, reports::public_reviews,
        exchange::evaluations, exchange::get_district, exchange::put_district,
        access_log::access_log,
        search::search,
        moderation::list_held, moderation::decide, moderation::get_phrases, moderation::put_phrases,
        integrity::list_flags, integrity::decide_flag,
        replies::get_banned_phrases, replies::put_banned_phrases,
        topics::list_topics, topics::list_alerts, topics::get_matrix, topics::list_documents,
        reports::open311_services, reports::open311_requests, reports::open311_request,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security, &StandardErrors)
)]
pub struct ApiDoc;

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
