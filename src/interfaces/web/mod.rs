//! Server-rendered pages (maud: HTML escaping is the default). Pages call the same use cases as
//! the API; there is no second copy of the rules.

pub mod admin;
pub mod analytics;
pub mod board;
pub mod integrity;
pub mod public;
pub mod rating;
pub mod search;
pub mod staff;
pub mod topics;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup, DOCTYPE};

const APP_JS: &str = include_str!("assets/app.js");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/app.css", web::get().to(|| async { asset(crate::adapters::render::APP_CSS, "text/css; charset=utf-8") }))
        .route("/static/app.js", web::get().to(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }))
        .service(
            web::resource("/rate/{token}")
                .route(web::get().to(rating::show))
                .route(web::post().to(rating::submit)),
        )
        .service(web::resource("/rate/{token}/follow-up").route(web::post().to(rating::follow_up)))
        .service(web::resource("/rate/{token}/qr.{format}").route(web::get().to(rating::qr)))
        .route("/", web::get().to(|| async { HttpResponse::SeeOther().insert_header(("Location", "/cases")).finish() }))
        .service(web::resource("/login").route(web::get().to(staff::show_login)).route(web::post().to(staff::submit_login)))
        .route("/logout", web::post().to(staff::logout))
        .route("/cases", web::get().to(staff::inbox))
        .route("/cases/{id}", web::get().to(staff::show_case))
        .route("/cases/{id}/act", web::post().to(staff::act))
        .route("/board", web::get().to(board::show))
        .route("/board/reviews/{id}/moderation", web::post().to(board::moderate))
        .route("/board/integrity", web::get().to(integrity::list))
        .service(web::resource("/board/integrity/{id}").route(web::get().to(integrity::show)).route(web::post().to(integrity::decide)))
        .route("/analytics", web::get().to(analytics::show))
        .route("/analytics/clusters", web::post().to(analytics::run_clustering))
        .route("/analytics/clusters/{id}", web::get().to(analytics::show_run))
        .route("/analytics/topics/{id}", web::get().to(topics::show_topic))
        .route("/admin", web::get().to(admin::index))
        .service(web::resource("/admin/{section}").route(web::get().to(admin::show)).route(web::post().to(admin::submit)))
        .route("/admin/keys/{id}/revoke", web::post().to(admin::revoke_key))
        .route("/admin/webhooks/{id}/delete", web::post().to(admin::delete_webhook))
        .route("/admin/mail/{id}/retry", web::post().to(admin::retry_mail))
        .route("/admin/webhooks/{id}/deliveries/{delivery}/redeliver", web::post().to(admin::redeliver_webhook))
        .route("/reports", web::get().to(public::reports_page))
        .route("/reports/monthly", web::get().to(public::monthly))
        .route("/reports/months/{month}", web::get().to(public::report_versions))
        .route("/reports/months/{month}/regenerate", web::post().to(public::regenerate_report))
        .route("/public", web::get().to(public::disclosure_page));
}

fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(body)
}

/// The page frame: Chinese, phone-width, no external resources.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 政务服务好差评" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.site { "政务服务“好差评”" }
                main { (body) }
                footer { "您的评价将帮助我们改进政务服务。" }
            }
        }
    }
}

/// Tells the office that deadlines run on a calendar not yet confirmed by the State Council's
/// notice (see `domain::calendar::unconfirmed_years`); admins get the link to enter it.
pub fn calendar_banner(years: &[i32], for_admin: bool) -> Markup {
    html! {
        @for year in years {
            div.warning role="status" {
                strong { (year) " 年工作日历为暂定。" }
                "期限按法定节假日推算，尚无调休安排，通知发布后可能变动。"
                @if for_admin {
                    a href={ "/admin/calendar?year=" (year) } { "按国务院办公厅通知录入" }
                } @else {
                    "请管理员在国务院办公厅通知发布后录入。"
                }
            }
        }
    }
}

/// A page that explains what went wrong, with the right status.
pub fn message_page(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let page = layout(title, html! { div.card { h1 { (title) } p { (text) } } });
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(page.into_string())
}

/// A failure that is not the user's: logged for us, a plain "try again" for them.
pub fn busy(e: &crate::error::AppError) -> HttpResponse {
    tracing::warn!(error = %e, "page failed");
    message_page(StatusCode::SERVICE_UNAVAILABLE, "系统繁忙", "请稍后再试。")
}

/// Redirect after a form post (Post/Redirect/Get), so a reload does not post again.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", location)).finish()
}

pub fn page(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(markup.into_string())
}
