//! `GET /api/openapi.json`, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, analysis, cases, exchange, intake, reports, rules_admin, webhooks, workflow};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        components.add_security_scheme("rating_token", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Rating-Token"))));
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
        webhooks::list_deliveries, webhooks::redeliver, intake::create_transaction, intake::create_transactions_batch, intake::create_review, intake::create_complaint,
        cases::list_cases, cases::get_case, workflow::act_on_case, workflow::merge_cases, workflow::put_co_departments, workflow::add_note, workflow::list_alerts, workflow::create_follow_up,
        analysis::run_clustering, analysis::list_runs, analysis::get_run, analysis::get_label_map, analysis::put_label_map, analysis::suggest,
        rules_admin::get_calendar, rules_admin::put_calendar, rules_admin::list_sla_policies, rules_admin::put_sla_policy, rules_admin::get_rating_policy, rules_admin::put_rating_policy, rules_admin::get_tag_sets, rules_admin::put_tag_set_of,
        reports::get_stats, reports::get_rankings, reports::get_monthly_report, reports::export_cases, reports::public_reviews,
        exchange::evaluations, exchange::get_district, exchange::put_district,
        reports::open311_services, reports::open311_requests, reports::open311_request,
    ),
    modifiers(&Security)
)]
pub struct ApiDoc;

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
