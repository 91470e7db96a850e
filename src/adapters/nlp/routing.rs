//! Routing complaints that arrive without a department: the trained router's labels are mapped
//! to departments (an admin's label map, or a label that is itself a department code); above the
//! confidence threshold the complaint goes there, below it waits for a supervisor with the
//! top suggestions attached.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::adapters::nlp::router::RouterModel;
use crate::error::{AppError, AppResult};
use crate::storage::{queries, Conn};

const LABEL_MAP_KEY: &str = "router_label_map";
const SUGGESTIONS: usize = 3;

pub struct ComplaintRouter {
    pub model: RouterModel,
    pub threshold: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub label: String,
    pub department_code: Option<String>,
    pub score: f32,
}

/// Where a complaint should go, as far as the router can tell.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteDecision {
    /// Set when the best suggestion is confident and maps to a department.
    pub department_id: Option<i64>,
    pub suggestions: Vec<Suggestion>,
}

impl ComplaintRouter {
    /// Loads `router.json` from `dir`; `None` (logged) when there is none or it is unreadable.
    /// The router of `dir/router.json`, or the built-in one without a directory.
    pub fn load(dir: Option<&Path>, threshold: f32) -> Option<ComplaintRouter> {
        let (model, source) = match dir {
            Some(dir) => {
                let path = dir.join("router.json");
                (RouterModel::load(&path), path.display().to_string())
            }
            None => (RouterModel::built_in(), "built-in".to_owned()),
        };
        match model {
            Ok(model) => {
                tracing::info!(model = %source, labels = model.labels.len(), "complaint router loaded");
                Some(ComplaintRouter { model, threshold })
            }
            Err(e) => {
                tracing::warn!(model = %source, error = %e, "no complaint router; complaints without a department stay unassigned");
                None
            }
        }
    }

    pub fn route(&self, conn: &mut Conn, text: &str) -> AppResult<RouteDecision> {
        let map = label_map(conn)?;
        let mut suggestions = Vec::with_capacity(SUGGESTIONS);
        let mut department_id = None;
        for (rank, (label, score)) in self.model.predict(text).into_iter().take(SUGGESTIONS).enumerate() {
            let code = map.get(&label).cloned().unwrap_or_else(|| label.clone());
            let department = queries::department_by_code(conn, &code)?;
            if rank == 0 && score >= self.threshold {
                department_id = department.as_ref().map(|d| d.id);
            }
            suggestions.push(Suggestion { label, department_code: department.map(|d| d.code), score });
        }
        Ok(RouteDecision { department_id, suggestions })
    }
}

/// The admin's mapping from router labels to department codes.
pub fn label_map(conn: &mut Conn) -> AppResult<BTreeMap<String, String>> {
    match queries::setting(conn, LABEL_MAP_KEY)? {
        Some(json) => serde_json::from_str(&json).map_err(|e| AppError::internal(anyhow::anyhow!("bad label map: {e}"))),
        None => Ok(BTreeMap::new()),
    }
}

/// Replaces the mapping; every department code must exist.
pub fn set_label_map(conn: &mut Conn, map: &BTreeMap<String, String>) -> AppResult<()> {
    for code in map.values() {
        if queries::department_by_code(conn, code)?.is_none() {
            return Err(AppError::unknown_code("department_code", code));
        }
    }
    let json = serde_json::to_string(map).map_err(AppError::internal)?;
    crate::db_run!(conn, |c| {
        use crate::storage::schema::settings;
        use diesel::prelude::*;
        diesel::delete(settings::table.filter(settings::key.eq(LABEL_MAP_KEY))).execute(c)?;
        diesel::insert_into(settings::table).values((settings::key.eq(LABEL_MAP_KEY), settings::value.eq(&json))).execute(c)
    })?;
    Ok(())
}
