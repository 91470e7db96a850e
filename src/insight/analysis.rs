//! 聚类分析 over stored comments: picks the texts (period, source, grade), clusters them, and
//! stores the run, its clusters and the membership so that it can be listed and read later.

use std::time::Instant;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::adapters::nlp::clustering::{cluster_texts, ClusterError, ClusterOptions, ClusterResult, KChoice};
use crate::clock::{self, rfc3339_local};
use crate::db_run;
use crate::domain::calendar::{end_of_local_day, start_of_local_day};
use crate::error::{AppError, AppResult};
use crate::storage::schema::{analysis_clusters, analysis_members, analysis_runs, complaints, reviews};
use crate::storage::Conn;

/// More comments than this are refused: split the period instead.
pub const MAX_DOCUMENTS: usize = 200_000;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisRequest {
    /// First day, `YYYY-MM-DD` (inclusive); default: everything.
    pub from: Option<NaiveDate>,
    /// Last day, `YYYY-MM-DD` (inclusive).
    pub to: Option<NaiveDate>,
    /// `reviews`, `complaints` or `all` (default `reviews`).
    #[schema(pattern = "^(reviews|complaints|all)$")]
    pub source: Option<String>,
    /// For reviews: `bad` (1–2 stars, default) or `all`.
    #[schema(pattern = "^(bad|all)$")]
    pub grade: Option<String>,
    /// A number of clusters, or `"auto"` (default).
    pub k: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "crate::domain::json_numbers::integer_opt")]
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    pub number: i32,
    pub label: String,
    pub size: i32,
    pub top_terms: Vec<String>,
    /// Representative comments, closest to the cluster's centre first.
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub id: i64,
    pub created_at: String,
    pub created_by: String,
    pub params: serde_json::Value,
    pub k: i32,
    pub documents: i32,
    pub silhouette: f64,
    pub seconds: f64,
    pub clusters: Vec<ClusterView>,
}

struct Document {
    source: &'static str,
    id: i64,
    text: String,
}

fn local_start(day: NaiveDate) -> NaiveDateTime {
    clock::to_db(start_of_local_day(day))
}

fn gather(conn: &mut Conn, request: &AnalysisRequest) -> AppResult<Vec<Document>> {
    let from = request.from.map(local_start);
    let to = request.to.map(|d| clock::to_db(end_of_local_day(d)));
    let source = request.source.as_deref().unwrap_or("reviews");
    if !["reviews", "complaints", "all"].contains(&source) {
        return Err(AppError::invalid("source", "reviews, complaints or all"));
    }
    let grade = request.grade.as_deref().unwrap_or("bad");
    if !["bad", "all"].contains(&grade) {
        return Err(AppError::invalid("grade", "bad or all"));
    }
    let mut docs = Vec::new();
    if source != "complaints" {
        let max_stars = if grade == "bad" { 2 } else { 5 };
        let rows: Vec<(i64, Option<String>)> = db_run!(conn, |c| {
            let mut q = reviews::table
                .filter(reviews::stars.le(max_stars))
                .filter(reviews::invalidated.eq(false))
                .filter(reviews::comment.is_not_null())
                .order(reviews::id.asc())
                .select((reviews::id, reviews::comment))
                .into_boxed();
            if let Some(from) = from {
                q = q.filter(reviews::rated_at.ge(from));
            }
            if let Some(to) = to {
                q = q.filter(reviews::rated_at.le(to));
            }
            q.load(c)
        })?;
        docs.extend(rows.into_iter().filter_map(|(id, text)| text.map(|text| Document { source: "review", id, text })));
    }
    if source != "reviews" {
        let rows: Vec<(i64, Option<String>, String)> = db_run!(conn, |c| {
            let mut q = complaints::table
                .order(complaints::id.asc())
                .select((complaints::id, complaints::title, complaints::content))
                .into_boxed();
            if let Some(from) = from {
                q = q.filter(complaints::received_at.ge(from));
            }
            if let Some(to) = to {
                q = q.filter(complaints::received_at.le(to));
            }
            q.load(c)
        })?;
        docs.extend(rows.into_iter().map(|(id, title, content)| Document {
            source: "complaint",
            id,
            text: match title {
                Some(t) => format!("{t}。{content}"),
                None => content,
            },
        }));
    }
    Ok(docs)
}

fn k_choice(value: Option<&serde_json::Value>) -> AppResult<KChoice> {
    match value {
        None => Ok(KChoice::Auto { min: 2, max: 12 }),
        Some(serde_json::Value::String(s)) if s == "auto" => Ok(KChoice::Auto { min: 2, max: 12 }),
        Some(serde_json::Value::Number(n)) => match n.as_u64() {
            Some(k @ 2..=50) => Ok(KChoice::Fixed(k as usize)),
            _ => Err(AppError::invalid("k", "2 to 50, or \"auto\"")),
        },
        Some(_) => Err(AppError::invalid("k", "2 to 50, or \"auto\"")),
    }
}

/// The selected texts clustered: the documents, their texts, the result and the seconds it took.
struct Clustered {
    docs: Vec<Document>,
    texts: Vec<String>,
    result: ClusterResult,
    seconds: f64,
}

fn cluster_selection(conn: &mut Conn, request: &AnalysisRequest) -> AppResult<Clustered> {
    if let (Some(f), Some(t)) = (request.from, request.to) {
        if f > t {
            return Err(AppError::invalid("from", "is after to"));
        }
    }
    let k = k_choice(request.k.as_ref())?;
    let docs = gather(conn, request)?;
    if docs.len() < 3 {
        return Err(AppError::invalid("from", format!("only {} comments in this selection; at least 3 are needed", docs.len())));
    }
    if docs.len() > MAX_DOCUMENTS {
        return Err(AppError::invalid("from", format!("{} comments; at most {MAX_DOCUMENTS} per run, narrow the period", docs.len())));
    }
    let started = Instant::now();
    let texts: Vec<String> = docs.iter().map(|d| d.text.clone()).collect();
    let options = ClusterOptions { k, seed: request.seed.unwrap_or(42), n_init: 3 };
    let result = cluster_texts(&texts, options, &mut |m| tracing::debug!(%m, "clustering")).map_err(|e| match e {
        ClusterError::KTooLarge { .. } | ClusterError::TooFewForAuto { .. } => AppError::invalid("k", e.to_string()),
        ClusterError::NoTexts | ClusterError::NoTerms => AppError::invalid("from", e.to_string()),
    })?;
    Ok(Clustered { docs, texts, result, seconds: started.elapsed().as_secs_f64() })
}

/// Clusters without storing (the monthly report's top complaint clusters); too few texts give none.
pub fn preview(conn: &mut Conn, request: &AnalysisRequest) -> AppResult<Vec<ClusterView>> {
    let clustered = match cluster_selection(conn, request) {
        Ok(c) => c,
        Err(AppError::Invalid(_)) => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    Ok(clustered
        .result
        .clusters
        .iter()
        .map(|c| ClusterView {
            number: i32::try_from(c.number).unwrap_or(i32::MAX),
            label: c.label.clone(),
            size: i32::try_from(c.size).unwrap_or(i32::MAX),
            top_terms: c.top_terms.clone(),
            samples: c.representatives.iter().map(|&i| clustered.texts[i].clone()).collect(),
        })
        .collect())
}

/// Runs the clustering and stores it. The texts are read in one transaction and the result
/// written in another, so a long clustering holds no lock.
pub fn run(conn: &mut Conn, request: &AnalysisRequest, actor: &str, now: DateTime<Utc>) -> AppResult<RunView> {
    let Clustered { docs, texts, result, seconds } = cluster_selection(conn, request)?;
    let params = serde_json::to_string(request).map_err(AppError::internal)?;
    let to_i32 = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    conn.transaction(|conn| {
        let run_id: i64 = db_run!(conn, |c| diesel::insert_into(analysis_runs::table)
            .values((
                analysis_runs::created_at.eq(clock::to_db(now)),
                analysis_runs::created_by.eq(actor),
                analysis_runs::params.eq(&params),
                analysis_runs::k.eq(to_i32(result.k)),
                analysis_runs::documents.eq(to_i32(docs.len())),
                analysis_runs::silhouette.eq(result.silhouette),
                analysis_runs::seconds.eq(seconds),
            ))
            .returning(analysis_runs::id)
            .get_result(c))?;
        for cluster in &result.clusters {
            let samples: Vec<&str> = cluster.representatives.iter().map(|&i| texts[i].as_str()).collect();
            let top = serde_json::to_string(&cluster.top_terms).map_err(AppError::internal)?;
            let samples = serde_json::to_string(&samples).map_err(AppError::internal)?;
            db_run!(conn, |c| diesel::insert_into(analysis_clusters::table)
                .values((
                    analysis_clusters::run_id.eq(run_id),
                    analysis_clusters::cluster_no.eq(to_i32(cluster.number)),
                    analysis_clusters::label.eq(&cluster.label),
                    analysis_clusters::size.eq(to_i32(cluster.size)),
                    analysis_clusters::top_terms.eq(&top),
                    analysis_clusters::samples.eq(&samples),
                ))
                .execute(c))?;
        }
        // Membership in batches that stay under SQLite's bound-parameter limit.
        for (chunk_docs, chunk_clusters) in docs.chunks(2000).zip(result.assignment.chunks(2000)) {
            let rows: Vec<_> = chunk_docs
                .iter()
                .zip(chunk_clusters)
                .map(|(d, &c)| {
                    (
                        analysis_members::run_id.eq(run_id),
                        analysis_members::cluster_no.eq(to_i32(c)),
                        analysis_members::source.eq(d.source),
                        analysis_members::record_id.eq(d.id),
                    )
                })
                .collect();
            db_run!(conn, |c| diesel::insert_into(analysis_members::table).values(&rows).execute(c))?;
        }
        load(conn, run_id)
    })
}

type RunRow = (i64, NaiveDateTime, String, String, i32, i32, f64, f64);

fn run_columns() -> (
    analysis_runs::id,
    analysis_runs::created_at,
    analysis_runs::created_by,
    analysis_runs::params,
    analysis_runs::k,
    analysis_runs::documents,
    analysis_runs::silhouette,
    analysis_runs::seconds,
) {
    (
        analysis_runs::id,
        analysis_runs::created_at,
        analysis_runs::created_by,
        analysis_runs::params,
        analysis_runs::k,
        analysis_runs::documents,
        analysis_runs::silhouette,
        analysis_runs::seconds,
    )
}

fn view(row: RunRow, clusters: Vec<ClusterView>) -> RunView {
    let (id, created_at, created_by, params, k, documents, silhouette, seconds) = row;
    RunView {
        id,
        created_at: rfc3339_local(created_at),
        created_by,
        params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
        k,
        documents,
        silhouette,
        seconds,
        clusters,
    }
}

pub fn load(conn: &mut Conn, id: i64) -> AppResult<RunView> {
    let row: Option<RunRow> = db_run!(conn, |c| analysis_runs::table.find(id).select(run_columns()).first(c).optional())?;
    let row = row.ok_or_else(|| AppError::NotFound(format!("no analysis run {id}")))?;
    let clusters: Vec<(i32, String, i32, String, String)> = db_run!(conn, |c| analysis_clusters::table
        .filter(analysis_clusters::run_id.eq(id))
        .order(analysis_clusters::cluster_no.asc())
        .select((
            analysis_clusters::cluster_no,
            analysis_clusters::label,
            analysis_clusters::size,
            analysis_clusters::top_terms,
            analysis_clusters::samples,
        ))
        .load(c))?;
    let clusters = clusters
        .into_iter()
        .map(|(number, label, size, top, samples)| ClusterView {
            number,
            label,
            size,
            top_terms: serde_json::from_str(&top).unwrap_or_default(),
            samples: serde_json::from_str(&samples).unwrap_or_default(),
        })
        .collect();
    Ok(view(row, clusters))
}

/// Runs newest first, without their clusters.
/// One page of past runs, newest first, and how many there are in all.
pub fn list_page(conn: &mut Conn, limit: i64, offset: i64) -> AppResult<(Vec<RunView>, i64)> {
    let total: i64 = db_run!(conn, |c| analysis_runs::table.count().get_result(c))?;
    let rows: Vec<RunRow> = db_run!(conn, |c| analysis_runs::table
        .order(analysis_runs::id.desc())
        .limit(limit)
        .offset(offset)
        .select(run_columns())
        .load(c))?;
    Ok((rows.into_iter().map(|r| view(r, Vec::new())).collect(), total))
}

pub fn list(conn: &mut Conn, limit: i64) -> AppResult<Vec<RunView>> {
    let rows: Vec<RunRow> = db_run!(conn, |c| analysis_runs::table
        .order(analysis_runs::id.desc())
        .limit(limit)
        .select(run_columns())
        .load(c))?;
    Ok(rows.into_iter().map(|r| view(r, Vec::new())).collect())
}
