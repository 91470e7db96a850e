//! Login, master data, users, API keys and the audit check.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin::accounts::{self, ApiKeyListItem, NewUserSpec, UserListItem, UserPatch};
use crate::domain::access::Principal;
use crate::interfaces::app::{telemetry, AppState};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::admin::master_data::{
    self, AssignmentFilter, AssignmentSpec, AssignmentView, DepartmentPatch, DepartmentView, ListFilter, ServiceItemPatch, ServiceItemView, StaffPatch, StaffView, WindowPatch,
    WindowView,
};
use crate::adapters::tabular::TableSource;
use crate::domain::access::Role;
use crate::domain::import::{ImportKind, ImportReport};
use crate::storage::audit::{self, ChainReport};

use super::extract::Caller;
use super::times;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub role: String,
    pub expires_at: String,
    pub department_code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/login", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong username or password")))]
pub async fn login(state: web::Data<AppState>, req: HttpRequest, body: web::Json<LoginRequest>) -> AppResult<HttpResponse> {
    let LoginRequest { username, password } = body.into_inner();
    if username.len() > 200 || password.len() > 1024 {
        return Err(AppError::Unauthorized("wrong username or password".into()));
    }
    let address = crate::interfaces::http::extract::client_address(&req);
    let who = username.clone();
    let outcome = state
        .db(move |conn, _| {
            let result = match accounts::sign_in(conn, &username, &password, address, clock::now())? {
                accounts::SignIn::Accepted(result) => result,
                accounts::SignIn::Refused { locked } => return Ok(Err(locked)),
            };
            let department_code = match result.user.department_id {
                Some(id) => crate::storage::queries::department_by_id(conn, id)?.map(|d| d.code),
                None => None,
            };
            Ok(Ok(LoginResponse {
                token: result.token,
                role: result.role.as_str().to_owned(),
                expires_at: clock::rfc3339_local(clock::to_db(result.expires_at)),
                department_code,
            }))
        })
        .await?;
    let response = outcome.map_err(|locked| {
        telemetry::sign_in_failed(&who, address, locked);
        AppError::Unauthorized("wrong username or password".into())
    });
    Ok(HttpResponse::Ok().json(response?))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(state: web::Data<AppState>, req: HttpRequest, caller: Caller) -> AppResult<HttpResponse> {
    if !matches!(caller.0, Principal::User { .. }) {
        return Err(AppError::Forbidden("only a signed-in user signs out; API keys are revoked by an admin".into()));
    }
    if let Some(token) = super::extract::bearer_token(&req) {
        state.db(move |conn, _| accounts::logout(conn, &token)).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentRequest {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub name: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub parent_code: Option<String>,
    #[schema(max_length = 254, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f@]*@[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub email: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/departments", request_body = DepartmentRequest,
    responses((status = 201, body = DepartmentView), (status = 409, description = "code exists")), security(("bearer" = [])))]
pub async fn create_department(state: web::Data<AppState>, caller: Caller, body: web::Json<DepartmentRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let actor = caller.0.actor_label();
    let b = body.into_inner();
    let view = state
        .db(move |conn, _| {
            master_data::create_department(conn, &actor, &b.code, &b.name, b.parent_code.as_deref(), b.email.as_deref(), clock::now())
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Filters of the master-data lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MasterDataQuery {
    /// Only the active (`true`) or the deactivated (`false`) ones; default all.
    pub active: Option<bool>,
    /// Departments: the children of this parent. Service items and staff: this department's.
    pub department_code: Option<String>,
}

impl From<MasterDataQuery> for ListFilter {
    fn from(q: MasterDataQuery) -> ListFilter {
        ListFilter { active: q.active, department_code: q.department_code }
    }
}

/// Who may read master data: everyone who works with it, integrations included.
const MASTER_DATA_READERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Department, Role::Integration];

#[utoipa::path(get, path = "/api/v1/departments", params(MasterDataQuery), responses((status = 200, body = [DepartmentView])), security(("bearer" = [])))]
pub async fn list_departments(state: web::Data<AppState>, caller: Caller, query: web::Query<MasterDataQuery>) -> AppResult<HttpResponse> {
    caller.0.require(MASTER_DATA_READERS)?;
    let filter = ListFilter::from(query.into_inner());
    let list = state.db(move |conn, _| master_data::list_departments(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(patch, path = "/api/v1/departments/{code}", params(("code" = String, Path)), request_body = DepartmentPatch,
    responses((status = 200, body = DepartmentView), (status = 404, description = "no such department"), (status = 422, description = "invalid value or a parent loop")),
    security(("bearer" = [])))]
pub async fn patch_department(state: web::Data<AppState>, caller: Caller, code: web::Path<String>, body: web::Json<DepartmentPatch>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, code, patch) = (caller.0.actor_label(), code.into_inner(), body.into_inner());
    let view = state.db(move |conn, _| master_data::update_department(conn, &actor, &code, &patch, clock::now())).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(get, path = "/api/v1/service-items", params(MasterDataQuery), responses((status = 200, body = [ServiceItemView])), security(("bearer" = [])))]
pub async fn list_service_items(state: web::Data<AppState>, caller: Caller, query: web::Query<MasterDataQuery>) -> AppResult<HttpResponse> {
    caller.0.require(MASTER_DATA_READERS)?;
    let filter = ListFilter::from(query.into_inner());
    let list = state.db(move |conn, _| master_data::list_service_items(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(patch, path = "/api/v1/service-items/{code}", params(("code" = String, Path)), request_body = ServiceItemPatch,
    responses((status = 200, body = ServiceItemView), (status = 404, description = "no such service item")), security(("bearer" = [])))]
pub async fn patch_service_item(state: web::Data<AppState>, caller: Caller, code: web::Path<String>, body: web::Json<ServiceItemPatch>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, code, patch) = (caller.0.actor_label(), code.into_inner(), body.into_inner());
    let view = state.db(move |conn, _| master_data::update_service_item(conn, &actor, &code, &patch, clock::now())).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(get, path = "/api/v1/windows", params(MasterDataQuery), responses((status = 200, body = [WindowView])), security(("bearer" = [])))]
pub async fn list_windows(state: web::Data<AppState>, caller: Caller, query: web::Query<MasterDataQuery>) -> AppResult<HttpResponse> {
    caller.0.require(MASTER_DATA_READERS)?;
    let filter = ListFilter::from(query.into_inner());
    let list = state.db(move |conn, _| master_data::list_windows(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(patch, path = "/api/v1/windows/{code}", params(("code" = String, Path)), request_body = WindowPatch,
    responses((status = 200, body = WindowView), (status = 404, description = "no such window")), security(("bearer" = [])))]
pub async fn patch_window(state: web::Data<AppState>, caller: Caller, code: web::Path<String>, body: web::Json<WindowPatch>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, code, patch) = (caller.0.actor_label(), code.into_inner(), body.into_inner());
    let view = state.db(move |conn, _| master_data::update_window(conn, &actor, &code, &patch, clock::now())).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(get, path = "/api/v1/staff", params(MasterDataQuery), responses((status = 200, body = [StaffView])), security(("bearer" = [])))]
pub async fn list_staff(state: web::Data<AppState>, caller: Caller, query: web::Query<MasterDataQuery>) -> AppResult<HttpResponse> {
    caller.0.require(MASTER_DATA_READERS)?;
    let filter = ListFilter::from(query.into_inner());
    let list = state.db(move |conn, _| master_data::list_staff(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(patch, path = "/api/v1/staff/{staff_no}", params(("staff_no" = String, Path)), request_body = StaffPatch,
    responses((status = 200, body = StaffView), (status = 404, description = "no such staff member")), security(("bearer" = [])))]
pub async fn patch_staff(state: web::Data<AppState>, caller: Caller, staff_no: web::Path<String>, body: web::Json<StaffPatch>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, staff_no, patch) = (caller.0.actor_label(), staff_no.into_inner(), body.into_inner());
    let view = state.db(move |conn, _| master_data::update_staff(conn, &actor, &staff_no, &patch, clock::now())).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceItemRequest {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub name: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub department_code: String,
}

#[utoipa::path(post, path = "/api/v1/service-items", request_body = ServiceItemRequest,
    responses((status = 201, body = ServiceItemView)), security(("bearer" = [])))]
pub async fn create_service_item(state: web::Data<AppState>, caller: Caller, body: web::Json<ServiceItemRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let actor = caller.0.actor_label();
    let b = body.into_inner();
    let view = state
        .db(move |conn, _| master_data::create_service_item(conn, &actor, &b.code, &b.name, &b.department_code, clock::now()))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowRequest {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub name: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub hall: String,
}

#[utoipa::path(post, path = "/api/v1/windows", request_body = WindowRequest,
    responses((status = 201, body = WindowView)), security(("bearer" = [])))]
pub async fn create_window(state: web::Data<AppState>, caller: Caller, body: web::Json<WindowRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let actor = caller.0.actor_label();
    let b = body.into_inner();
    let view = state.db(move |conn, _| master_data::create_window(conn, &actor, &b.code, &b.name, &b.hall, clock::now())).await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRequest {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub staff_no: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub name: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub department_code: String,
}

#[utoipa::path(post, path = "/api/v1/staff", request_body = StaffRequest,
    responses((status = 201, body = StaffView)), security(("bearer" = [])))]
pub async fn create_staff(state: web::Data<AppState>, caller: Caller, body: web::Json<StaffRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let actor = caller.0.actor_label();
    let b = body.into_inner();
    let view = state
        .db(move |conn, _| master_data::create_staff(conn, &actor, &b.staff_no, &b.name, &b.department_code, clock::now()))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRequest {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub window_code: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub staff_no: String,
    #[schema(min_items = 1, max_items = 500)]
    pub service_item_codes: Vec<String>,
    #[serde(deserialize_with = "times::effective_from")]
    pub effective_from: DateTime<FixedOffset>,
    #[serde(default, deserialize_with = "times::effective_to_opt")]
    pub effective_to: Option<DateTime<FixedOffset>>,
}

#[utoipa::path(post, path = "/api/v1/assignments", request_body = AssignmentRequest,
    responses((status = 201, body = AssignmentView), (status = 409, description = "it would overlap another assignment of the window and item")),
    security(("bearer" = [])))]
pub async fn create_assignment(state: web::Data<AppState>, caller: Caller, body: web::Json<AssignmentRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let actor = caller.0.actor_label();
    let b = body.into_inner();
    let view = state
        .db(move |conn, _| {
            let spec = AssignmentSpec {
                window_code: &b.window_code,
                staff_no: &b.staff_no,
                service_item_codes: &b.service_item_codes,
                effective_from: b.effective_from.with_timezone(&Utc),
                effective_to: b.effective_to.map(|t| t.with_timezone(&Utc)),
            };
            master_data::create_assignment(conn, &actor, &spec, clock::now())
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Filters of the assignment list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AssignmentQuery {
    pub window_code: Option<String>,
    pub staff_no: Option<String>,
    /// Only those in force at this moment (RFC 3339).
    #[serde(default, deserialize_with = "times::at_opt")]
    pub at: Option<DateTime<FixedOffset>>,
}

#[utoipa::path(get, path = "/api/v1/assignments", params(AssignmentQuery), responses((status = 200, body = [AssignmentView])), security(("bearer" = [])))]
pub async fn list_assignments(state: web::Data<AppState>, caller: Caller, query: web::Query<AssignmentQuery>) -> AppResult<HttpResponse> {
    caller.0.require(MASTER_DATA_READERS)?;
    let q = query.into_inner();
    let filter = AssignmentFilter { id: None, window_code: q.window_code, staff_no: q.staff_no, at: q.at.map(|t| t.with_timezone(&Utc)) };
    let list = state.db(move |conn, _| master_data::list_assignments(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Ends an assignment (or, with `null`, lets it run on again).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentPatch {
    /// Required; `null` clears the end. An explicit field, so a forgotten one never reopens it.
    #[serde(deserialize_with = "times::effective_to_opt")]
    #[schema(required = true)]
    pub effective_to: Option<DateTime<FixedOffset>>,
}

#[utoipa::path(patch, path = "/api/v1/assignments/{id}", params(("id" = i64, Path)), request_body = AssignmentPatch,
    responses((status = 200, body = AssignmentView), (status = 404, description = "no such assignment"),
        (status = 409, description = "it would overlap another assignment of the window and item"), (status = 422, description = "ends before it starts")),
    security(("bearer" = [])))]
pub async fn patch_assignment(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>, body: web::Json<AssignmentPatch>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, id, to) = (caller.0.actor_label(), id.into_inner(), body.into_inner().effective_to.map(|t| t.with_timezone(&Utc)));
    let view = state.db(move |conn, _| master_data::end_assignment(conn, &actor, id, to, clock::now())).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub username: String,
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
    /// `admin`, `supervisor` or `department`.
    #[schema(value_type = crate::domain::access::Role)]
    pub role: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub department_code: Option<String>,
    #[schema(max_length = 254, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f@]*@[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserCreated {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub department_code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/users", request_body = UserRequest,
    responses((status = 201, body = UserCreated)), security(("bearer" = [])))]
pub async fn create_user(state: web::Data<AppState>, caller: Caller, body: web::Json<UserRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let actor = caller.0.actor_label();
    let b = body.into_inner();
    let role = Role::parse(&b.role).ok_or_else(|| AppError::invalid("role", format!("unknown role {:?}", b.role)))?;
    let created = state
        .db(move |conn, _| {
            let spec = NewUserSpec {
                username: &b.username,
                password: &b.password,
                role,
                department_code: b.department_code.as_deref(),
                email: b.email.as_deref(),
            };
            let user = accounts::create_user_by(conn, &actor, &spec, clock::now())?;
            Ok(UserCreated { id: user.id, username: user.username, role: user.role, department_code: b.department_code.clone() })
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    #[schema(min_length = 1, max_length = 100, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub name: String,
    /// Optional; a key is always `integration`.
    #[schema(value_type = Option<String>, pattern = "^integration$")]
    pub role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    pub id: i64,
    pub name: String,
    /// Shown once; only its hash is stored.
    pub key: String,
}

#[utoipa::path(post, path = "/api/v1/api-keys", request_body = ApiKeyRequest,
    responses((status = 201, body = ApiKeyCreated)), security(("bearer" = [])))]
pub async fn create_api_key(state: web::Data<AppState>, caller: Caller, body: web::Json<ApiKeyRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let actor = caller.0.actor_label();
    let b = body.into_inner();
    if b.role.as_deref().is_some_and(|r| r != Role::Integration.as_str()) {
        return Err(AppError::invalid("role", "API keys are for the integration role (the field may be left out)"));
    }
    let created = state
        .db(move |conn, _| {
            let (id, key) = accounts::create_api_key_by(conn, &actor, &b.name, clock::now())?;
            Ok(ApiKeyCreated { id, name: b.name.clone(), key })
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = [UserListItem])), security(("bearer" = [])))]
pub async fn list_users(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let list = state.db(|conn, _| accounts::list_users(conn)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(patch, path = "/api/v1/users/{username}", params(("username" = String, Path)), request_body = UserPatch,
    responses((status = 200, body = UserListItem), (status = 404, description = "no such user")), security(("bearer" = [])))]
pub async fn patch_user(state: web::Data<AppState>, caller: Caller, username: web::Path<String>, body: web::Json<UserPatch>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, username, patch) = (caller.0.actor_label(), username.into_inner(), body.into_inner());
    let user = state.db(move |conn, _| accounts::update_user(conn, &actor, &username, &patch, clock::now())).await?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub old_password: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password", request_body = PasswordChange,
    responses((status = 204, description = "changed; the user's other sessions ended"), (status = 422, description = "wrong old password or too short a new one")),
    security(("bearer" = [])))]
pub async fn change_password(state: web::Data<AppState>, req: HttpRequest, caller: Caller, body: web::Json<PasswordChange>) -> AppResult<HttpResponse> {
    let Principal::User { id, .. } = caller.0 else {
        return Err(AppError::Forbidden("only a signed-in user changes their own password".into()));
    };
    let current = super::extract::bearer_token(&req);
    let b = body.into_inner();
    state.db(move |conn, _| accounts::change_own_password(conn, id, &b.old_password, &b.new_password, current.as_deref(), clock::now())).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/api-keys", responses((status = 200, body = [ApiKeyListItem])), security(("bearer" = [])))]
pub async fn list_api_keys(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let list = state.db(|conn, _| accounts::list_api_keys(conn)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", params(("id" = i64, Path)),
    responses((status = 204, description = "revoked: the key gets 401 from now on"), (status = 404, description = "no active key with this id")),
    security(("bearer" = [])))]
pub async fn revoke_api_key(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, id) = (caller.0.actor_label(), id.into_inner());
    let revoked = state.db(move |conn, _| accounts::revoke_api_key_by(conn, &actor, id, clock::now())).await;
    // This instance forgets its cached keys at once; others within the cache's few seconds.
    state.api_keys.clear();
    revoked?;
    telemetry::api_key_revoked(id, &caller.0.actor_label());
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/audit/verify", responses((status = 200, body = ChainReport)), security(("bearer" = [])))]
pub async fn verify_audit(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin, Role::Supervisor])?;
    let report = state.db(|conn, _| Ok(audit::verify(conn)?)).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// departments, service-items, windows, staff, assignments or transactions.
    #[param(pattern = "^(departments|service-items|windows|staff|assignments|transactions)$")]
    pub kind: String,
    /// Check every row and report, write nothing (default false).
    pub dry_run: Option<bool>,
}

/// The largest import body the API takes; bigger files go through `haochaping import`.
pub const IMPORT_BODY_LIMIT: usize = 64 << 20;

#[utoipa::path(post, path = "/api/v1/imports", params(ImportQuery),
    request_body(content = Vec<u8>, description = "the file: CSV (UTF-8 or GBK) or XLSX", content_type = "text/csv"),
    responses((status = 200, body = ImportReport, description = "every row accepted (written unless dry_run)"),
        (status = 422, description = "rows refused: nothing written; `report` lists every refused row")),
    security(("bearer" = [])))]
pub async fn import(state: web::Data<AppState>, caller: Caller, query: web::Query<ImportQuery>, body: web::Bytes) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let q = query.into_inner();
    let kind = ImportKind::parse(&q.kind)
        .ok_or_else(|| AppError::invalid("kind", "departments, service-items, windows, staff, assignments or transactions"))?;
    let (actor, dry_run, bytes) = (caller.0.actor_label(), q.dry_run.unwrap_or(false), body.to_vec());
    let report = state
        .db(move |conn, _| {
            let source = TableSource::Bytes(bytes);
            match kind {
                ImportKind::Transactions => crate::intake::import::import_transactions(conn, source, dry_run, false, clock::now(), &mut |_| {}).map(|(r, _)| r),
                _ => crate::admin::import::import_master_data(conn, &actor, kind, source, dry_run, clock::now()),
            }
        })
        .await?;
    if report.has_errors() {
        return Ok(HttpResponse::UnprocessableEntity().json(serde_json::json!({"error": {"code": "invalid_rows", "message": report.summary()}, "report": report})));
    }
    Ok(HttpResponse::Ok().json(report))
}
