//! `/rate/{token}`: the citizen's rating page for one transaction, the thank-you, the reply and
//! the 回访 rating. The form posts back to the same link; a hidden field derived from the
//! link's signature stops cross-site posts.

use std::collections::HashMap;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::interfaces::app::AppState;
use crate::cases::citizen::{self, RatingStatus};
use crate::clock::{self, display_local};
use crate::domain::grade::Stars;
use crate::domain::intake_rules::{Channel, FieldError, MAX_COMMENT_CHARS};
use crate::domain::tag_sets::{GradeBand, TagSets};
use crate::error::AppError;
use crate::cases::follow_ups::{record_follow_up, FollowUp, Satisfaction, ADDENDUM_DAYS};
use crate::intake::{review_command, Rater, RatingRequest};
use crate::adapters::security::RatingTokenError;
use crate::interfaces::http::extract::{rating_origin, DEVICE_COOKIE};

use super::{layout, message_page, page, see_other};

/// The transaction number behind a link, or the page saying why the link is unusable.
fn check_link(state: &AppState, token: &str) -> Result<String, HttpResponse> {
    match state.signer.verify(token, clock::now()) {
        Ok(no) => Ok(no),
        Err(RatingTokenError::Expired) => Err(message_page(
            StatusCode::GONE,
            "评价链接已过期",
            "该评价链接已超过有效期。如需评价或反映问题，请联系办事窗口或拨打12345热线。",
        )),
        Err(_) => Err(message_page(StatusCode::NOT_FOUND, "评价链接无效", "无法识别该评价链接，请核对短信或二维码中的完整地址。")),
    }
}

/// The hidden `form` field of the rating page for this link (tests post the form with it).
pub fn form_token(state: &AppState, token: &str) -> String {
    state.signer.sign(&format!("form:{token}"), chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

fn unavailable(e: &AppError) -> HttpResponse {
    match e {
        AppError::NotFound(_) => message_page(StatusCode::NOT_FOUND, "未找到办件", "该链接对应的办件不存在。"),
        _ => {
            tracing::warn!(error = %e, "rating page failed");
            message_page(StatusCode::SERVICE_UNAVAILABLE, "系统繁忙", "系统暂时无法处理，请稍后再试。您的评价尚未提交。")
        }
    }
}

fn facts(status: &RatingStatus) -> Markup {
    let t = &status.transaction;
    html! {
        div.card {
            dl.facts {
                dt { "办理事项" } dd { (t.service_item) }
                dt { "办理部门" } dd { (t.department) }
                @if let Some(w) = &t.window { dt { "办理窗口" } dd { (w) } }
                dt { "办结时间" } dd { (display_local(t.completed_at)) }
                dt { "办件编号" } dd { (t.transaction_no) }
            }
        }
    }
}

fn star_glyphs(n: u8) -> String {
    format!("{}{}", "★".repeat(n as usize), "☆".repeat(5 - n as usize))
}

struct FormState<'a> {
    /// How the citizen came: `qr` (a QR code) or `sms` (a text message), from the link's `?via=`.
    via: Option<&'static str>,
    stars: Option<u8>,
    tags: Vec<String>,
    comment: &'a str,
    anonymous: bool,
    error: Option<String>,
}

fn rating_form(state: &AppState, token: &str, status: &RatingStatus, tag_sets: &TagSets, form: &FormState<'_>) -> Markup {
    let layout_body = html! {
        h1 { "请对本次办事服务进行评价" }
        (facts(status))
        @if let Some(e) = &form.error { div.error role="alert" { (e) } }
        form.card method="post" action={ "/rate/" (token) } {
            input type="hidden" name="form" value=(form_token(state, token));
            @if let Some(via) = form.via { input type="hidden" name="via" value=(via); }
            fieldset.stars {
                legend { "总体评价（必选）" }
                @for n in (1..=5u8).rev() {
                    @let level = Stars::parse(i64::from(n)).map(|s| s.level_name()).unwrap_or("");
                    label {
                        input type="radio" name="stars" value=(n) required checked[form.stars == Some(n)];
                        span.glyph aria-hidden="true" { (star_glyphs(n)) }
                        span { (level) }
                    }
                }
            }
            fieldset.tags {
                legend { "评价标签" }
                p #tags-hint .muted hidden { "选择总体评价后，这里会列出相应的标签。" }
                p #bad-hint .muted hidden { "差评请至少选择一个标签或填写意见，以便部门核实整改。" }
                @for band in GradeBand::ALL {
                    div.group data-band=(band.as_str()) {
                        h2 { (match band { GradeBand::Bad => "不满意的地方", GradeBand::Basic => "一般", GradeBand::Good => "满意的地方" }) }
                        @for (i, tag) in tag_sets.of(band).tags.iter().enumerate() {
                            label {
                                input type="checkbox" name={ "tag_" (band.as_str()) "_" (i) } value=(tag) checked[form.tags.iter().any(|t| t == tag)];
                                (tag)
                            }
                        }
                    }
                }
            }
            label for="comment" { "意见与建议（选填，差评必填标签或意见）" }
            textarea #comment name="comment" maxlength=(MAX_COMMENT_CHARS) data-counter="comment-count" { (form.comment) }
            div #comment-count .counter aria-live="polite" { (form.comment.chars().count()) " / " (MAX_COMMENT_CHARS) }
            p {
                label { input type="checkbox" name="anonymous" value="1" checked[form.anonymous]; " 匿名评价（公开时不显示姓名）" }
            }
            button type="submit" { "提交评价" }
        }
    };
    layout("评价", layout_body)
}

fn satisfaction_label(s: &str) -> &'static str {
    Satisfaction::parse(s).map(|s| s.label()).unwrap_or("")
}

/// The 追评 card: the one given, the form while the 7 days run, or that they have passed.
fn addendum_card(token: &str, status: &RatingStatus, error: Option<&str>) -> Markup {
    let now = clock::to_db(clock::now());
    html! {
        @if status.review.is_some() {
            div.card #addendum {
                h2 { "追评" }
                @if let Some(a) = &status.addendum {
                    @if let Some(stars) = a.stars.and_then(|s| Stars::parse(i64::from(s)).ok()) {
                        p { span.glyph aria-hidden="true" { (star_glyphs(stars.get())) } " " (stars.level_name()) }
                    }
                    @if let Some(c) = &a.comment { p { (c) } }
                    p.muted { "追评时间：" (display_local(a.created_at)) }
                } @else if status.addendum_open(now) {
                    @if let Some(until) = status.addendum_until() {
                        p.muted { "评价后 " (ADDENDUM_DAYS) " 天内可追评一次，截止 " (display_local(until)) "。" }
                    }
                    @if let Some(e) = error { div.error role="alert" { (e) } }
                    form method="post" action={ "/rate/" (token) "/follow-up" } {
                        input type="hidden" name="kind" value="addendum";
                        label for="addendum-comment" { "追评内容" }
                        textarea #addendum-comment name="comment" maxlength=(MAX_COMMENT_CHARS) required {}
                        button type="submit" { "提交追评" }
                    }
                } @else {
                    p.muted { "评价已超过 " (ADDENDUM_DAYS) " 天，不能再追评。" }
                }
            }
        }
    }
}

fn rated_page(token: &str, status: &RatingStatus, thanks: bool, error: Option<&str>) -> Markup {
    rated_page_with(token, status, thanks, error, None)
}

fn rated_page_with(token: &str, status: &RatingStatus, thanks: bool, error: Option<&str>, addendum_error: Option<&str>) -> Markup {
    let body = html! {
        @if thanks { div.notice role="status" { "感谢您的评价！" } }
        h1 { "您的评价" }
        (facts(status))
        @if let Some(r) = &status.review {
            div.card {
                @let stars = u8::try_from(r.stars).unwrap_or(0).min(5);
                p { span.glyph aria-hidden="true" { (star_glyphs(stars)) } " "
                    (Stars::parse(i64::from(r.stars)).map(|s| s.level_name()).unwrap_or("")) }
                @let tags: Vec<String> = serde_json::from_str(&r.tags).unwrap_or_default();
                @if !tags.is_empty() { p { "标签：" (tags.join("、")) } }
                @if let Some(c) = &r.comment { p { (c) } }
                p.muted { "评价时间：" (display_local(r.rated_at)) }
            }
        }
        @if status.in_progress {
            div.card { p { "承办部门正在核实整改，答复后您可以在此查看并评价处理结果。" } }
        }
        @if let Some(reply) = &status.reply {
            div.card {
                h2 { "部门答复" }
                p.reply { (reply) }
                @if let Some(given) = &status.handling_rating {
                    p { "您对处理结果的评价：" strong { (satisfaction_label(given)) } }
                } @else {
                    @if let Some(e) = error { div.error role="alert" { (e) } }
                    form method="post" action={ "/rate/" (token) "/follow-up" } {
                        fieldset.stars {
                            legend { "您对处理结果是否满意？" }
                            @for s in Satisfaction::ALL {
                                label { input type="radio" name="satisfaction" value=(s.as_str()) required; " " (s.label()) }
                            }
                        }
                        label for="follow-comment" { "补充说明（选填）" }
                        textarea #follow-comment name="comment" maxlength=(MAX_COMMENT_CHARS) {}
                        button type="submit" { "提交回访评价" }
                    }
                }
            }
        }
        (addendum_card(token, status, addendum_error))
    };
    layout("您的评价", body)
}

/// The channel a link's `?via=` (or the form's `via` field) names; anything else is none.
fn via(value: Option<&String>) -> Option<&'static str> {
    match value.map(String::as_str) {
        Some("qr") => Some("qr"),
        Some("sms") => Some("sms"),
        _ => None,
    }
}

/// The address a QR code of this link carries: the rating page, marked as reached by QR.
pub fn qr_target(state: &AppState, token: &str) -> String {
    format!("{}/rate/{token}?via=qr", state.config.public_url)
}

/// `GET /rate/{token}/qr.svg` and `qr.png`: the link as a QR code, for a counter screen or a
/// printed slip. A forged or expired link gets no code.
pub async fn qr(state: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (token, format) = path.into_inner();
    if let Err(page) = check_link(&state, &token) {
        return page;
    }
    let target = qr_target(&state, &token);
    let drawn = match format.as_str() {
        "svg" => crate::adapters::render::qr::svg(&target).map(|svg| ("image/svg+xml", svg.into_bytes())).map_err(|e| e.to_string()),
        "png" => crate::adapters::render::qr::png(&target, 8).map(|png| ("image/png", png)),
        _ => return message_page(StatusCode::NOT_FOUND, "未找到", "二维码只有 qr.svg 和 qr.png 两种格式。"),
    };
    match drawn {
        Ok((content_type, body)) => HttpResponse::Ok().content_type(content_type).insert_header(("Cache-Control", "private, max-age=3600")).body(body),
        Err(e) => {
            tracing::warn!(error = %e, "QR code not drawn");
            message_page(StatusCode::SERVICE_UNAVAILABLE, "系统繁忙", "二维码暂时无法生成，请稍后再试。")
        }
    }
}

pub async fn show(state: web::Data<AppState>, req: HttpRequest, token: web::Path<String>, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let token = token.into_inner();
    let no = match check_link(&state, &token) {
        Ok(no) => no,
        Err(page) => return page,
    };
    let (status, rules) = match state.db(move |conn, state| Ok((citizen::status(conn, &no)?, state.rules(conn)?))).await {
        Ok(loaded) => loaded,
        Err(e) => return unavailable(&e),
    };
    if status.review.is_some() {
        page(StatusCode::OK, rated_page(&token, &status, query.contains_key("thanks"), None))
    } else {
        let form = FormState { via: via(query.get("via")), stars: None, tags: vec![], comment: "", anonymous: false, error: None };
        let mut shown = page(StatusCode::OK, rating_form(&state, &token, &status, &rules.tag_sets, &form));
        name_the_browser(&state, &req, &mut shown);
        shown
    }
}

/// Gives a browser without one the long-lived random `hcp_device` cookie, so that many ratings
/// from one browser can be told apart from many people behind one address (integrity flags).
/// First-party, HttpOnly, nothing but a random id; only its keyed hash is stored with a rating.
fn name_the_browser(state: &AppState, req: &HttpRequest, response: &mut HttpResponse) {
    if req.cookie(DEVICE_COOKIE).is_some() {
        return;
    }
    let cookie = Cookie::build(DEVICE_COOKIE, crate::adapters::security::random_secret())
        .path("/")
        .max_age(actix_web::cookie::time::Duration::days(730))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.public_url.starts_with("https://"))
        .finish();
    if let Err(e) = response.add_cookie(&cookie) {
        tracing::warn!(error = %e, "device cookie not set");
    }
}

pub async fn submit(state: web::Data<AppState>, req: HttpRequest, token: web::Path<String>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    if state.citizen_rating_quota(crate::interfaces::http::extract::client_address(&req)).await.is_err() {
        return too_many();
    }
    let token = token.into_inner();
    let no = match check_link(&state, &token) {
        Ok(no) => no,
        Err(page) => return page,
    };
    let form = form.into_inner();
    // Verified rather than compared: a page shown before a key rotation still posts.
    let genuine_form = form.get("form").and_then(|f| state.signer.verify(f, clock::now()).ok()) == Some(format!("form:{token}"));
    if !genuine_form {
        return message_page(StatusCode::FORBIDDEN, "请求无效", "请从评价链接打开页面后再提交。");
    }
    let stars = form.get("stars").and_then(|s| s.parse::<i64>().ok());
    let mut tags: Vec<(String, String)> = form.iter().filter(|(k, _)| k.starts_with("tag_")).map(|(k, v)| (k.clone(), v.clone())).collect();
    tags.sort();
    let tags: Vec<String> = tags.into_iter().map(|(_, v)| v).collect();
    let comment = form.get("comment").cloned().unwrap_or_default();
    let anonymous = form.contains_key("anonymous");
    let mobile = req.headers().get("User-Agent").and_then(|v| v.to_str().ok()).is_some_and(|ua| ua.contains("Mobile"));
    let came_by = via(form.get("via"));
    let now = clock::now();
    let request = stars.map(|stars| RatingRequest {
        transaction_no: no.clone(),
        stars,
        channel: match came_by {
            Some("qr") => Channel::Qr,
            Some("sms") => Channel::Sms,
            _ if mobile => Channel::Mobile,
            _ => Channel::Pc,
        },
        tags: tags.clone(),
        comment: Some(comment.clone()),
        anonymous,
        public: None,
        rated_at: None,
    });
    // The form again, with what was chosen and why it was refused.
    let again = |message: String| {
        let (state, token, no, tags, comment) = (state.clone(), token.clone(), no.clone(), tags.clone(), comment.clone());
        async move {
            let (status, rules) = match state.db(move |conn, state| Ok((citizen::status(conn, &no)?, state.rules(conn)?))).await {
                Ok(loaded) => loaded,
                Err(e) => return unavailable(&e),
            };
            let form = FormState { via: came_by, stars: stars.and_then(|s| u8::try_from(s).ok()), tags, comment: &comment, anonymous, error: Some(message) };
            page(StatusCode::UNPROCESSABLE_ENTITY, rating_form(&state, &token, &status, &rules.tag_sets, &form))
        }
    };
    let command = match request.map(|r| review_command(&Rater::Citizen { link_transaction_no: &no }, r, now)) {
        Some(Ok(command)) => command,
        Some(Err(AppError::Invalid(e))) => return again(refusal_text(&e)).await,
        Some(Err(e)) => return unavailable(&e),
        None => return again("请选择总体评价（1 至 5 星）。".to_owned()).await,
    };
    // Where it came from, for the integrity flags: the address, this browser's device cookie,
    // and a staff member signed in on the same browser.
    let origin = crate::domain::integrity::ReviewOrigin {
        staff_session: super::staff::staff_session_in_force(&state, &req).await,
        ..rating_origin(&state, &req, None)
    };
    let command = crate::intake::ReviewCommand { origin, ..command };
    let result = state.reviews.submit(command, "citizen".to_owned(), now).await;
    match result {
        Ok(recorded) => {
            state.metrics.review_recorded(recorded.is_bad);
            see_other(&format!("/rate/{token}?thanks=1"))
        }
        // A tag the office withdrew while the page was open.
        Err(AppError::Invalid(e)) => again(refusal_text(&e)).await,
        // Rated already (another tab, a double tap): show what is on record.
        Err(AppError::Conflict { code: "already_rated", .. }) => see_other(&format!("/rate/{token}")),
        Err(e) => unavailable(&e),
    }
}

/// Why the form was refused, for the citizen.
fn refusal_text(e: &FieldError) -> String {
    match e.field {
        "comment" if e.message.contains("bad review") => "差评请至少选择一个标签或填写意见。".to_owned(),
        "comment" => format!("意见最多 {MAX_COMMENT_CHARS} 字，且不能包含控制字符。"),
        "tags" => "所选标签已更新，请按当前列出的标签重新选择。".to_owned(),
        _ => "请选择总体评价（1 至 5 星）。".to_owned(),
    }
}

pub async fn follow_up(state: web::Data<AppState>, req: HttpRequest, token: web::Path<String>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    if state.citizen_rating_quota(crate::interfaces::http::extract::client_address(&req)).await.is_err() {
        return too_many();
    }
    let token = token.into_inner();
    let no = match check_link(&state, &token) {
        Ok(no) => no,
        Err(page) => return page,
    };
    let form = form.into_inner();
    if form.get("kind").map(String::as_str) == Some("addendum") {
        return addendum(&state, token, no, &form).await;
    }
    let Some(satisfaction) = form.get("satisfaction").and_then(|s| Satisfaction::parse(s)) else {
        let lookup = no.clone();
        return match state.db(move |conn, _| citizen::status(conn, &lookup)).await {
            Ok(status) => page(StatusCode::UNPROCESSABLE_ENTITY, rated_page(&token, &status, false, Some("请选择满意、基本满意或不满意。"))),
            Err(e) => unavailable(&e),
        };
    };
    let comment = form.get("comment").map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    let follow = FollowUp::Handling { satisfaction, comment };
    let citizen = crate::domain::access::Principal::Citizen { transaction_no: no.clone() };
    let result = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            record_follow_up(conn, &citizen, &no, &follow, clock::now(), &rules)
        })
        .await;
    match result {
        Ok(_) | Err(AppError::Conflict { .. }) => see_other(&format!("/rate/{token}")),
        Err(AppError::Invalid(_)) => message_page(StatusCode::UNPROCESSABLE_ENTITY, "内容有误", "补充说明最多 2000 字。"),
        Err(e) => unavailable(&e),
    }
}

/// The citizen's 追评 from the rating page: once, within 7 days of the rating (the rule is
/// `follow_ups::record_follow_up`'s, as in the API).
async fn addendum(state: &web::Data<AppState>, token: String, no: String, form: &HashMap<String, String>) -> HttpResponse {
    let comment = form.get("comment").map(|c| c.trim().to_owned()).unwrap_or_default();
    let again = |message: &'static str| {
        let (state, token, no) = (state.clone(), token.clone(), no.clone());
        async move {
            match state.db(move |conn, _| citizen::status(conn, &no)).await {
                Ok(status) => page(StatusCode::UNPROCESSABLE_ENTITY, rated_page_with(&token, &status, false, None, Some(message))),
                Err(e) => unavailable(&e),
            }
        }
    };
    if comment.is_empty() {
        return again("请填写追评内容。").await;
    }
    let follow = FollowUp::Addendum { stars: None, comment };
    let citizen = crate::domain::access::Principal::Citizen { transaction_no: no.clone() };
    let lookup = no.clone();
    let result = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            record_follow_up(conn, &citizen, &lookup, &follow, clock::now(), &rules)
        })
        .await;
    match result {
        // Given, or given already, or too late: the page shows which.
        Ok(_) | Err(AppError::Conflict { .. }) => see_other(&format!("/rate/{token}#addendum")),
        Err(AppError::Invalid(_)) => again("追评最多 2000 字，且不能包含控制字符。").await,
        Err(e) => unavailable(&e),
    }
}

fn too_many() -> HttpResponse {
    message_page(StatusCode::TOO_MANY_REQUESTS, "提交过于频繁", "请稍候一分钟再提交。您之前的评价不会丢失。")
}
