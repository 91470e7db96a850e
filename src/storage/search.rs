//! The search index in each database's own full-text index (migration 000032): SQLite's FTS5
//! over the space-separated `terms` and `facets` of `search_documents`, PostgreSQL's GIN over
//! the same as arrays. Words and filters (department, source, stars, month) are matched in that
//! one index, newest document first, so a page of hits costs the same whether a word is in
//! ten texts or in three hundred thousand; the total is counted up to a cap.
//!
//! The terms come from the caller (jieba lives in `adapters::search`): this module only stores
//! and matches them.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp};

use crate::clock;
use crate::domain::calendar::local_date;
use crate::domain::search::{facets, DocSource, COUNT_CAP};
use crate::storage::{Backend, Conn};

/// A text to index, with what its hits show and are filtered by.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub source: DocSource,
    pub record_id: i64,
    pub case_id: Option<i64>,
    pub transaction_no: Option<String>,
    pub department_id: Option<i64>,
    pub stars: Option<i32>,
    pub occurred_at: NaiveDateTime,
    pub text: String,
    /// Its search terms (`Tokenizer::search_terms`), none with a space.
    pub terms: Vec<String>,
}

/// One value bound to a query, for either backend.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    OptI32(Option<i32>),
    Time(NaiveDateTime),
    /// A PostgreSQL `text[]`; SQLite gets the words space-separated.
    Words(Vec<String>),
}

/// SQL and its arguments, placeholders written for the backend (`?` or `$n`).
struct Sql {
    text: String,
    args: Vec<Arg>,
    backend: Backend,
}

impl Sql {
    fn new(backend: Backend) -> Sql {
        Sql { text: String::new(), args: Vec::new(), backend }
    }

    fn push(&mut self, sql: &str) -> &mut Sql {
        self.text.push_str(sql);
        self
    }

    /// Appends `(?, ?, …)`: a placeholder for each of `ids`.
    fn id_list(&mut self, ids: &[i64]) -> &mut Sql {
        self.push("(");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.arg(Arg::Int(*id));
        }
        self.push(")")
    }

    /// Appends a placeholder for `arg`.
    fn arg(&mut self, arg: Arg) -> &mut Sql {
        self.args.push(arg);
        match self.backend {
            Backend::Sqlite => self.text.push('?'),
            Backend::Postgres => {
                let n = self.args.len();
                self.text.push_str(&format!("${n}"));
            }
        }
        self
    }
}

/// A boxed `sql_query` of backend `$db` with every argument of `sql` bound; `$words` binds a
/// word list (a `text[]` on PostgreSQL, space-separated text on SQLite).
macro_rules! boxed_fn {
    ($name:ident, $db:ty, |$q:ident, $v:ident| $words:expr) => {
        fn $name(sql: &Sql) -> BoxedSqlQuery<'static, $db, SqlQuery> {
            let mut $q = diesel::sql_query(sql.text.clone()).into_boxed::<$db>();
            for arg in sql.args.iter().cloned() {
                $q = match arg {
                    Arg::Text(v) => $q.bind::<Text, _>(v),
                    Arg::OptText(v) => $q.bind::<Nullable<Text>, _>(v),
                    Arg::Int(v) => $q.bind::<BigInt, _>(v),
                    Arg::OptInt(v) => $q.bind::<Nullable<BigInt>, _>(v),
                    Arg::OptI32(v) => $q.bind::<Nullable<Integer>, _>(v),
                    Arg::Time(v) => $q.bind::<Timestamp, _>(v),
                    Arg::Words($v) => $words,
                };
            }
            $q
        }
    };
}

boxed_fn!(boxed_sqlite, diesel::sqlite::Sqlite, |q, v| q.bind::<Text, _>(v.join(" ")));
boxed_fn!(boxed_pg, diesel::pg::Pg, |q, v| q.bind::<Array<Text>, _>(v));

/// Runs `$sql` on either backend: `$run` with the bound query `$q` and the connection `$c`.
macro_rules! on_backend {
    ($conn:expr, $sql:expr, |$q:ident, $c:ident| $run:expr) => {
        match $conn {
            Conn::Sqlite(pooled) => {
                let $c: &mut diesel::SqliteConnection = &mut **pooled;
                let $q = boxed_sqlite(&$sql);
                $run
            }
            Conn::Postgres(pooled) => {
                let $c: &mut diesel::PgConnection = &mut **pooled;
                let $q = boxed_pg(&$sql);
                $run
            }
        }
    };
}

fn execute(conn: &mut Conn, sql: &Sql) -> QueryResult<usize> {
    on_backend!(conn, sql, |q, c| q.execute(c))
}

fn facets_of(source: DocSource, department_id: Option<i64>, stars: Option<i32>, occurred_at: NaiveDateTime) -> Vec<String> {
    facets(source, department_id, stars, local_date(clock::from_db(occurred_at)))
}

/// Rows per INSERT: 11 arguments each, well under either backend's limit.
const INSERT_ROWS: usize = 200;

/// Stores documents. A reply replaces the case's earlier reply (the newest is the one found
/// first); a review or complaint already indexed is left as it is (the start-up pass and a
/// writer may meet).
pub fn insert(conn: &mut Conn, docs: &[NewDocument]) -> QueryResult<()> {
    let backend = conn.backend();
    let replies: Vec<i64> = docs.iter().filter(|d| d.source == DocSource::Reply).map(|d| d.record_id).collect();
    for chunk in replies.chunks(INSERT_ROWS) {
        let mut sql = Sql::new(backend);
        sql.push("DELETE FROM search_documents WHERE source = 'reply' AND record_id IN ").id_list(chunk);
        execute(conn, &sql)?;
    }
    for chunk in docs.chunks(INSERT_ROWS) {
        let mut sql = Sql::new(backend);
        sql.push("INSERT INTO search_documents (source, record_id, case_id, transaction_no, department_id, stars, occurred_at, text, terms, facets) VALUES ");
        for (i, d) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.arg(Arg::Text(d.source.as_str().into())).push(", ");
            sql.arg(Arg::Int(d.record_id)).push(", ");
            sql.arg(Arg::OptInt(d.case_id)).push(", ");
            sql.arg(Arg::OptText(d.transaction_no.clone())).push(", ");
            sql.arg(Arg::OptInt(d.department_id)).push(", ");
            sql.arg(Arg::OptI32(d.stars)).push(", ");
            sql.arg(Arg::Time(d.occurred_at)).push(", ");
            sql.arg(Arg::Text(d.text.clone())).push(", ");
            sql.arg(Arg::Words(d.terms.clone())).push(", ");
            sql.arg(Arg::Words(facets_of(d.source, d.department_id, d.stars, d.occurred_at))).push(")");
        }
        sql.push(" ON CONFLICT (source, record_id) DO NOTHING");
        execute(conn, &sql)?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Placed {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Nullable<Integer>)]
    stars: Option<i32>,
    #[diesel(sql_type = Timestamp)]
    occurred_at: NaiveDateTime,
}

/// A case moved to another department (改派, or an unassigned complaint given one): its texts
/// move with it, so that the department now handling it finds them and the one before no
/// longer does, as with the case itself.
pub fn move_case(conn: &mut Conn, case_id: i64, department_id: Option<i64>) -> QueryResult<()> {
    let backend = conn.backend();
    let mut sql = Sql::new(backend);
    sql.push("SELECT id, source, stars, occurred_at FROM search_documents WHERE case_id = ").arg(Arg::Int(case_id));
    let placed: Vec<Placed> = on_backend!(conn, sql, |q, c| q.load(c))?;
    for doc in placed {
        let Some(source) = DocSource::parse(&doc.source) else { continue };
        let mut sql = Sql::new(backend);
        sql.push("UPDATE search_documents SET department_id = ").arg(Arg::OptInt(department_id));
        sql.push(", facets = ").arg(Arg::Words(facets_of(source, department_id, doc.stars, doc.occurred_at)));
        sql.push(" WHERE id = ").arg(Arg::Int(doc.id));
        execute(conn, &sql)?;
    }
    Ok(())
}

/// What to look for: every term, every key of `all_of`, one key of each `any_of` group.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub terms: Vec<String>,
    pub all_of: Vec<String>,
    pub any_of: Vec<Vec<String>>,
    /// `[from, until)`, when the month keys alone do not say it.
    pub from: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    /// Only the texts of a topic's comments (`topic_members`, issue 20 item 2).
    pub topic_id: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// One hit, as stored.
#[derive(Debug, Clone, QueryableByName)]
pub struct Hit {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = BigInt)]
    pub record_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub case_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub transaction_no: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub department_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub department_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub department: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub stars: Option<i32>,
    #[diesel(sql_type = Timestamp)]
    pub occurred_at: NaiveDateTime,
    #[diesel(sql_type = Text)]
    pub text: String,
}

pub struct Found {
    pub hits: Vec<Hit>,
    /// Hits in all, counted up to [`COUNT_CAP`].
    pub total: i64,
    /// More than `total` hits exist.
    pub more: bool,
    /// `more` is an estimate, not counted (PostgreSQL, see [`postgres_search`]).
    pub estimated: bool,
}

/// An FTS5 string: `"…"` with its quotes doubled, so a query's text is only ever words.
fn fts_phrase(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

/// The FTS5 MATCH expression of a search: its terms in `terms`, its keys in `facets`.
fn fts_match(s: &Search) -> String {
    let all = |words: &[String]| words.iter().map(|w| fts_phrase(w)).collect::<Vec<_>>().join(" ");
    let mut parts = vec![format!("terms : ({})", all(&s.terms))];
    if !s.all_of.is_empty() {
        parts.push(format!("facets : ({})", all(&s.all_of)));
    }
    for group in s.any_of.iter().filter(|g| !g.is_empty()) {
        parts.push(format!("facets : ({})", group.iter().map(|w| fts_phrase(w)).collect::<Vec<_>>().join(" OR ")));
    }
    parts.join(" AND ")
}

const HIT_COLUMNS: &str = "d.id, d.source, d.record_id, d.case_id, d.transaction_no, d.department_id, dep.code AS department_code, dep.name AS department, d.stars, d.occurred_at, d.text";

/// Which rows a PostgreSQL query looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    /// The [`RECENT_ROWS`] newest documents, read backwards along the primary key.
    Recent,
    /// All of them, through the GIN index.
    All,
}

/// Newest documents PostgreSQL reads first, backwards along the primary key: a page of a word in
/// one text of a hundred is among them, found without building the word's whole list of
/// matches (34 ms for a word in 120 000 texts of a million); a rarer match is then looked up
/// through the index, which is quick exactly when matches are few.
const RECENT_ROWS: i64 = 10_000;

/// `FROM … WHERE …` of a search, without order or limit; `d` is the document.
fn from_where(sql: &mut Sql, s: &Search, rows: Rows) {
    let backend = sql.backend;
    match (backend, s.topic_id, rows) {
        (Backend::Sqlite, None, _) => {
            sql.push(" FROM search_fts JOIN search_documents d ON d.id = search_fts.rowid");
        }
        (Backend::Postgres, None, Rows::Recent) => {
            sql.push(" FROM (SELECT * FROM search_documents ORDER BY id DESC LIMIT ").arg(Arg::Int(RECENT_ROWS)).push(") d");
        }
        _ => {
            sql.push(" FROM search_documents d");
        }
    }
    if let Some(topic) = s.topic_id {
        sql.push(" JOIN topic_members tm ON tm.source = d.source AND tm.record_id = d.record_id AND tm.topic_id = ").arg(Arg::Int(topic));
    }
    sql.push(" LEFT JOIN departments dep ON dep.id = d.department_id WHERE ");
    match (backend, s.topic_id) {
        (Backend::Sqlite, None) => {
            sql.push("search_fts MATCH ").arg(Arg::Text(fts_match(s)));
        }
        // A topic has few members: each is looked up in the index by its rowid.
        (Backend::Sqlite, Some(_)) => {
            sql.push("EXISTS (SELECT 1 FROM search_fts WHERE search_fts MATCH ").arg(Arg::Text(fts_match(s)));
            sql.push(" AND search_fts.rowid = d.id)");
        }
        (Backend::Postgres, _) => {
            sql.push("d.terms @> ").arg(Arg::Words(s.terms.clone()));
            if !s.all_of.is_empty() {
                sql.push(" AND d.facets @> ").arg(Arg::Words(s.all_of.clone()));
            }
            for group in s.any_of.iter().filter(|g| !g.is_empty()) {
                sql.push(" AND d.facets && ").arg(Arg::Words(group.clone()));
            }
        }
    }
    if let Some(from) = s.from {
        sql.push(" AND d.occurred_at >= ").arg(Arg::Time(from));
    }
    if let Some(until) = s.until {
        sql.push(" AND d.occurred_at < ").arg(Arg::Time(until));
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A page of hits, newest document first, and how many there are (up to the cap).
pub fn search(conn: &mut Conn, s: &Search) -> QueryResult<Found> {
    // No term would match everything (PostgreSQL's `@> '{}'`): the caller refuses such a query.
    if s.terms.is_empty() {
        return Ok(Found { hits: Vec::new(), total: 0, more: false, estimated: false });
    }
    let (hits, total, estimated) = match conn.backend() {
        Backend::Sqlite => {
            let (hits, total) = sqlite_search(conn, s)?;
            (hits, total, false)
        }
        Backend::Postgres => conn.transaction(|conn| postgres_search(conn, s))?,
    };
    Ok(Found { hits, total: total.min(COUNT_CAP), more: total > COUNT_CAP, estimated })
}

/// A short page counts itself (`None`: it does not).
fn counted_by_page(s: &Search, hits: &[Hit]) -> Option<i64> {
    ((hits.len() as i64) < s.limit && (s.offset == 0 || !hits.is_empty())).then_some(s.offset + hits.len() as i64)
}

fn page_of(conn: &mut Conn, s: &Search, rows: Rows, order: &str) -> QueryResult<Vec<Hit>> {
    let mut page = Sql::new(conn.backend());
    page.push("SELECT ").push(HIT_COLUMNS);
    from_where(&mut page, s, rows);
    page.push(order).push(" LIMIT ").arg(Arg::Int(s.limit)).push(" OFFSET ").arg(Arg::Int(s.offset));
    on_backend!(conn, page, |q, c| q.load(c))
}

/// Matches up to one past the cap.
fn count_of(conn: &mut Conn, s: &Search, rows: Rows) -> QueryResult<i64> {
    let mut count = Sql::new(conn.backend());
    count.push("SELECT COUNT(*) AS n FROM (SELECT 1 AS one");
    match (conn.backend(), s.topic_id, s.from.or(s.until)) {
        // What FTS5 alone decides needs no row of the table.
        (Backend::Sqlite, None, None) => {
            count.push(" FROM search_fts WHERE search_fts MATCH ").arg(Arg::Text(fts_match(s)));
        }
        _ => from_where(&mut count, s, rows),
    }
    count.push(" LIMIT ").arg(Arg::Int(COUNT_CAP + 1)).push(") counted");
    let rows: Vec<Count> = on_backend!(conn, count, |q, c| q.load(c))?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// FTS5 walks its matches by rowid, newest first, words and filters intersected in the index,
/// and stops at the limit.
fn sqlite_search(conn: &mut Conn, s: &Search) -> QueryResult<(Vec<Hit>, i64)> {
    let order = if s.topic_id.is_some() { " ORDER BY d.id DESC" } else { " ORDER BY search_fts.rowid DESC" };
    let hits = page_of(conn, s, Rows::All, order)?;
    let total = match counted_by_page(s, &hits) {
        Some(n) => n,
        None => count_of(conn, s, Rows::All)?,
    };
    Ok((hits, total))
}

/// PostgreSQL's planner, left to itself, orders by walking the primary key backwards and
/// filtering, and estimates the filters as if independent and spread evenly: a word in June
/// 2025's texts had it read 700 000 rows (1.4 s). So the order of work is fixed here: the
/// newest [`RECENT_ROWS`] first; when they do not fill the page, the GIN index (sequential
/// scans off: a bitmap of the matches, sorted), whose cost follows the number of matches; a
/// period that ended over a month ago starts there.
///
/// The total: counted among the newest rows up to one past the cap; when they hold fewer, the
/// index counts — except when both the share of the newest rows that match, over the whole
/// table, and the planner's statistics put the matches past three times the cap: then it is
/// reported as more than the cap without counting (`estimated`). Counting the 50 000 matches
/// of a common word and a common filter in the index takes 40–70 ms, the page itself 1 ms. A
/// word new this week is not yet in the statistics, and is counted.
fn postgres_search(conn: &mut Conn, s: &Search) -> QueryResult<(Vec<Hit>, i64, bool)> {
    execute(conn, &{
        let mut sql = Sql::new(Backend::Postgres);
        sql.push("SET LOCAL enable_seqscan = off");
        sql
    })?;
    // The matches are listed (ids only) up to one past the cap, or to the page's end: the
    // page and the count in one pass, the page's rows read afterwards.
    let (start, end) = (s.offset as usize, (s.offset + s.limit) as usize);
    let wanted = (COUNT_CAP + 1).max(s.offset + s.limit);
    let recent_period = s.until.is_none_or(|until| until > clock::to_db(clock::now() - chrono::Duration::days(31)));
    if s.topic_id.is_none() && recent_period {
        let ids = ids_of(conn, s, Rows::Recent, " ORDER BY d.id DESC", wanted)?;
        if ids.len() >= end {
            let hits = hits_by_id(conn, &ids[start..end])?;
            let recent = ids.len() as i64;
            if recent > COUNT_CAP {
                return Ok((hits, recent, false));
            }
            let (planned, documents) = planned_rows(conn, s)?;
            let extrapolated = recent as f64 * documents / RECENT_ROWS as f64;
            let well_past = 3.0 * COUNT_CAP as f64;
            if extrapolated > well_past && planned > well_past {
                return Ok((hits, COUNT_CAP + 1, true));
            }
            let total = count_of(conn, s, Rows::All)?;
            return Ok((hits, total, false));
        }
    }
    // `id + 0`: not along the primary key.
    let ids = ids_of(conn, s, Rows::All, " ORDER BY d.id + 0 DESC", wanted)?;
    let hits = hits_by_id(conn, ids.get(start..end.min(ids.len())).unwrap_or_default())?;
    Ok((hits, ids.len() as i64, false))
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The ids of the first `limit` matches in `order`.
fn ids_of(conn: &mut Conn, s: &Search, rows: Rows, order: &str, limit: i64) -> QueryResult<Vec<i64>> {
    let mut sql = Sql::new(conn.backend());
    sql.push("SELECT d.id");
    from_where(&mut sql, s, rows);
    sql.push(order).push(" LIMIT ").arg(Arg::Int(limit));
    let ids: Vec<Id> = on_backend!(conn, sql, |q, c| q.load(c))?;
    Ok(ids.into_iter().map(|i| i.id).collect())
}

/// The hits of `ids`, in that order.
fn hits_by_id(conn: &mut Conn, ids: &[i64]) -> QueryResult<Vec<Hit>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(conn.backend());
    sql.push("SELECT ").push(HIT_COLUMNS).push(" FROM search_documents d LEFT JOIN departments dep ON dep.id = d.department_id WHERE d.id IN ").id_list(ids);
    let mut hits: Vec<Hit> = on_backend!(conn, sql, |q, c| q.load(c))?;
    hits.sort_by_key(|h| ids.iter().position(|id| *id == h.id));
    Ok(hits)
}

#[derive(QueryableByName)]
struct Plan {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    plan: String,
}

/// The rows PostgreSQL's planner expects a search to match, and the documents it counts in
/// all, from its statistics.
fn planned_rows(conn: &mut Conn, s: &Search) -> QueryResult<(f64, f64)> {
    let mut plan_rows = |sql: &Sql| -> QueryResult<f64> {
        let plans: Vec<Plan> = on_backend!(conn, sql, |q, c| q.load(c))?;
        Ok(plans
            .first()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p.plan).ok())
            .and_then(|v| v[0]["Plan"]["Plan Rows"].as_f64())
            .unwrap_or(0.0))
    };
    let mut matching = Sql::new(Backend::Postgres);
    matching.push("EXPLAIN (FORMAT JSON) SELECT 1");
    from_where(&mut matching, s, Rows::All);
    let mut all = Sql::new(Backend::Postgres);
    all.push("EXPLAIN (FORMAT JSON) SELECT 1 FROM search_documents");
    Ok((plan_rows(&matching)?, plan_rows(&all)?))
}

/// A stored text not yet in the index (or, for [`stored_documents`], one that is).
#[derive(Debug, Clone, QueryableByName)]
pub struct SourceText {
    #[diesel(sql_type = BigInt)]
    pub record_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub case_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub transaction_no: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub department_id: Option<i64>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub stars: Option<i32>,
    #[diesel(sql_type = Timestamp)]
    pub occurred_at: NaiveDateTime,
    /// A complaint's title, indexed with its content.
    #[diesel(sql_type = Nullable<Text>)]
    pub title: Option<String>,
    #[diesel(sql_type = Text)]
    pub text: String,
}

/// Up to `limit` texts of `source` after record `after` (in id order) that have no document:
/// what the start-up pass and `haochaping reindex-search` index.
pub fn unindexed(conn: &mut Conn, source: DocSource, after: i64, limit: i64) -> QueryResult<Vec<SourceText>> {
    let mut sql = Sql::new(conn.backend());
    sql.push(match source {
        DocSource::Review => {
            "SELECT r.id AS record_id, c.id AS case_id, t.transaction_no, COALESCE(c.department_id, r.department_id) AS department_id, \
             r.stars, r.rated_at AS occurred_at, CAST(NULL AS TEXT) AS title, r.comment AS text \
             FROM reviews r JOIN transactions t ON t.id = r.transaction_id LEFT JOIN cases c ON c.review_id = r.id \
             WHERE r.comment IS NOT NULL AND r.id > "
        }
        DocSource::Complaint => {
            "SELECT p.id AS record_id, c.id AS case_id, t.transaction_no, c.department_id, CAST(NULL AS INTEGER) AS stars, \
             p.received_at AS occurred_at, p.title, p.content AS text \
             FROM complaints p LEFT JOIN cases c ON c.complaint_id = p.id LEFT JOIN transactions t ON t.id = p.transaction_id \
             WHERE p.id > "
        }
        DocSource::Reply => {
            "SELECT c.id AS record_id, c.id AS case_id, COALESCE(rt.transaction_no, pt.transaction_no) AS transaction_no, c.department_id, \
             r.stars, COALESCE(c.replied_at, c.updated_at) AS occurred_at, CAST(NULL AS TEXT) AS title, c.reply_text AS text \
             FROM cases c LEFT JOIN reviews r ON r.id = c.review_id LEFT JOIN transactions rt ON rt.id = r.transaction_id \
             LEFT JOIN complaints p ON p.id = c.complaint_id LEFT JOIN transactions pt ON pt.id = p.transaction_id \
             WHERE c.reply_text IS NOT NULL AND c.merged_into IS NULL AND c.id > "
        }
    });
    sql.arg(Arg::Int(after));
    let alias = match source {
        DocSource::Review => "r",
        DocSource::Complaint => "p",
        DocSource::Reply => "c",
    };
    sql.push(&format!(
        " AND NOT EXISTS (SELECT 1 FROM search_documents s WHERE s.source = '{}' AND s.record_id = {alias}.id) ORDER BY {alias}.id LIMIT ",
        source.as_str()
    ));
    sql.arg(Arg::Int(limit));
    on_backend!(conn, sql, |q, c| q.load(c))
}

/// A stored document, for [`retokenise`].
#[derive(Debug, Clone, QueryableByName)]
pub struct StoredDocument {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub department_id: Option<i64>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub stars: Option<i32>,
    #[diesel(sql_type = Timestamp)]
    pub occurred_at: NaiveDateTime,
    #[diesel(sql_type = Text)]
    pub text: String,
}

/// Up to `limit` documents after `after`, in id order.
pub fn stored_documents(conn: &mut Conn, after: i64, limit: i64) -> QueryResult<Vec<StoredDocument>> {
    let mut sql = Sql::new(conn.backend());
    sql.push("SELECT id, source, department_id, stars, occurred_at, text FROM search_documents WHERE id > ").arg(Arg::Int(after));
    sql.push(" ORDER BY id LIMIT ").arg(Arg::Int(limit));
    on_backend!(conn, sql, |q, c| q.load(c))
}

/// Writes a document's terms (and its facets) again, after the dictionary changed.
pub fn retokenise(conn: &mut Conn, doc: &StoredDocument, terms: Vec<String>) -> QueryResult<()> {
    let Some(source) = DocSource::parse(&doc.source) else { return Ok(()) };
    let mut sql = Sql::new(conn.backend());
    sql.push("UPDATE search_documents SET terms = ").arg(Arg::Words(terms));
    sql.push(", facets = ").arg(Arg::Words(facets_of(source, doc.department_id, doc.stars, doc.occurred_at)));
    sql.push(" WHERE id = ").arg(Arg::Int(doc.id));
    execute(conn, &sql).map(|_| ())
}

/// Texts there are to index (reviews with a comment, complaints, cases with a reply), for
/// the progress of `haochaping reindex-search`.
pub fn indexable_count(conn: &mut Conn) -> QueryResult<i64> {
    let sql = {
        let mut sql = Sql::new(conn.backend());
        sql.push(
            "SELECT (SELECT COUNT(*) FROM reviews WHERE comment IS NOT NULL) + (SELECT COUNT(*) FROM complaints) \
             + (SELECT COUNT(*) FROM cases WHERE reply_text IS NOT NULL) AS n",
        );
        sql
    };
    let rows: Vec<Count> = on_backend!(conn, sql, |q, c| q.load(c))?;
    Ok(rows.first().map_or(0, |r| r.n))
}

pub fn document_count(conn: &mut Conn) -> QueryResult<i64> {
    let mut sql = Sql::new(conn.backend());
    sql.push("SELECT COUNT(*) AS n FROM search_documents");
    let rows: Vec<Count> = on_backend!(conn, sql, |q, c| q.load(c))?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// Whether topic `id` exists (`topics`, issue 20 item 2).
pub fn topic_exists(conn: &mut Conn, id: i64) -> QueryResult<bool> {
    use crate::storage::schema::topics;
    let n: i64 = crate::db_run!(conn, |c| topics::table.filter(topics::id.eq(id)).count().get_result(c))?;
    Ok(n > 0)
}

#[derive(QueryableByName)]
struct CaseContext {
    #[diesel(sql_type = Nullable<Text>)]
    transaction_no: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    stars: Option<i32>,
}

/// A case's 办件 number and reviewed stars, for the document of its reply.
pub fn case_context(conn: &mut Conn, case_id: i64) -> QueryResult<(Option<String>, Option<i32>)> {
    let mut sql = Sql::new(conn.backend());
    sql.push(
        "SELECT COALESCE(rt.transaction_no, pt.transaction_no) AS transaction_no, r.stars \
         FROM cases c LEFT JOIN reviews r ON r.id = c.review_id LEFT JOIN transactions rt ON rt.id = r.transaction_id \
         LEFT JOIN complaints p ON p.id = c.complaint_id LEFT JOIN transactions pt ON pt.id = p.transaction_id WHERE c.id = ",
    );
    sql.arg(Arg::Int(case_id));
    let rows: Vec<CaseContext> = on_backend!(conn, sql, |q, c| q.load(c))?;
    Ok(rows.into_iter().next().map_or((None, None), |r| (r.transaction_no, r.stars)))
}
