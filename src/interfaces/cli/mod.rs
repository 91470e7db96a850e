//! The command line: one binary, one subcommand per job (SPEC §6).

pub mod demo;
pub mod text;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::admin::accounts::{self, NewUserSpec};
use crate::interfaces::app::AppState;
use crate::interfaces::app::config::Config;
use crate::domain::access::Role;

#[derive(Debug, Parser)]
#[command(name = "haochaping", version, about = "政务服务“好差评”闭环系统")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending database migrations and exit.
    Migrate,
    /// Run the HTTP service (migrates first).
    Serve {
        /// Seed a demo district (once) so that every page has data.
        #[arg(long)]
        demo: bool,
        /// Address to listen on (`HOST:PORT`, a name such as `localhost:8080` too); overrides HCP_BIND.
        #[arg(long, value_parser = crate::interfaces::app::config::socket_address)]
        bind: Option<SocketAddr>,
    },
    /// Writes the monthly operations report (运营报告) of a month as HTML, CSV or XLSX.
    Report {
        /// The month, YYYY-MM (Beijing time).
        #[arg(long)]
        month: String,
        #[arg(long, default_value = "html", value_parser = ["html", "csv", "xlsx"])]
        format: String,
        /// Ratings a department or window needs in the month to be ranked (at least 1; default
        /// 30). A frozen month keeps the minimum it was frozen with; another is refused.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        min_ratings: Option<i64>,
        /// Where to write the report.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Raise due-soon, overdue and escalation alerts and give the default ratings due, once (as
    /// `serve` does every minute).
    Scan {
        /// The clock to scan at (RFC 3339); default now. Later than now, the scan is a dry run.
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// With an `--at` in the future, write the alerts, mails and default ratings anyway
        /// (tests and drills only).
        #[arg(long)]
        allow_future: bool,
    },
    /// Import master data or 办件 from CSV (UTF-8 or GBK) or XLSX: all rows or none; prints
    /// the report (JSON on stdout), every refused row on stderr, exits 2 when any is refused.
    Import {
        /// departments, service-items, windows, staff, assignments or transactions.
        #[arg(long, value_parser = ["departments", "service-items", "windows", "staff", "assignments", "transactions"])]
        kind: String,
        #[arg(long)]
        input: std::path::PathBuf,
        /// Check every row and report, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Transactions: write `办件编号,评价链接` for each imported one (for SMS or QR printing).
        #[arg(long)]
        links_out: Option<std::path::PathBuf>,
        /// Transactions: with --links-out, also a QR code of each link, `<办件编号>.png` in this
        /// folder (for printed slips).
        #[arg(long, requires = "links_out")]
        qr_dir: Option<std::path::PathBuf>,
    },
    /// Cluster the texts of a CSV column with k-means; writes `row,cluster`.
    Cluster {
        #[arg(long)]
        input: std::path::PathBuf,
        /// The CSV's encoding: utf-8, or gbk / gb18030 for a file saved by Chinese Excel.
        #[arg(long, value_enum, default_value = "utf-8")]
        encoding: crate::interfaces::cli::text::TextEncoding,
        #[arg(long, default_value = "text")]
        text_column: String,
        /// A column of true labels: prints the NMI of the clustering against it.
        #[arg(long)]
        label_column: Option<String>,
        /// Number of clusters (at most the number of distinct texts), or `auto`: the best
        /// silhouette over 2..15, and at most one cluster per 3 distinct texts.
        #[arg(long, default_value = "auto")]
        k: crate::adapters::nlp::clustering::KChoice,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Seeded starts; the tightest wins.
        #[arg(long, default_value_t = 3)]
        n_init: usize,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Train the complaint router on a CSV of texts and their departments.
    TrainRouter {
        #[arg(long)]
        input: std::path::PathBuf,
        /// The CSV's encoding: utf-8, or gbk / gb18030 for a file saved by Chinese Excel.
        #[arg(long, value_enum, default_value = "utf-8")]
        encoding: crate::interfaces::cli::text::TextEncoding,
        #[arg(long, default_value = "text")]
        text_column: String,
        #[arg(long, default_value = "label")]
        label_column: String,
        #[arg(long)]
        out: std::path::PathBuf,
        /// Inverse regularisation strength; by default chosen from 0.1, 1, 10, 100 by 5-fold
        /// cross-validation on macro-F1.
        #[arg(long, value_parser = positive_c)]
        c: Option<f64>,
    },
    /// Route the texts of a CSV with a trained model; writes `row,label,score`.
    Route {
        #[arg(long)]
        model: std::path::PathBuf,
        #[arg(long)]
        input: std::path::PathBuf,
        /// The CSV's encoding: utf-8, or gbk / gb18030 for a file saved by Chinese Excel.
        #[arg(long, value_enum, default_value = "utf-8")]
        encoding: crate::interfaces::cli::text::TextEncoding,
        #[arg(long, default_value = "text")]
        text_column: String,
        /// A column of true labels: prints macro-F1 against it.
        #[arg(long)]
        label_column: Option<String>,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Seal every citizen's name and phone again under `HCP_DATA_KEY` and recompute the phone
    /// lookup hashes: after a change of key (the old one in `HCP_DATA_KEY_PREVIOUS` meanwhile),
    /// or to seal what was stored in clear before a key was set.
    Rekey,
    /// Fill the search index (检索) with the stored texts it lacks — those stored before it
    /// existed — printing progress; `serve` does the same at start. `--retokenise` also cuts
    /// every indexed text again, after the user dictionary or stop words changed (`HCP_NLP_DIR`).
    ReindexSearch {
        #[arg(long)]
        retokenise: bool,
    },
    /// Write a consistent copy of the live SQLite database (while the service runs), check it
    /// and print what it holds. PostgreSQL: `pg_dump` (the README's production section).
    Backup {
        /// The copy to write; must not exist yet.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Write the provincial feed's evaluation records after a cursor as JSON lines (what `GET
    /// /api/v1/exchange/evaluations` pages through); prints the cursor to go on from.
    ExportEvaluations {
        /// The cursor to start after (a `next_cursor`); none for the beginning.
        #[arg(long)]
        after: Option<String>,
        /// The JSON-lines file to write; must not exist yet.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Retire the rating-link key and sign with a new one: HCP_NEW_SECRET's value, or without it
    /// a random key the database keeps. Links signed with the old key keep working until they
    /// expire; restart every instance afterwards (with HCP_SECRET set to the new key, if given).
    RotateSecret,
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in the database of DATABASE_URL.
    Add {
        #[arg(long)]
        username: String,
        /// admin, supervisor or department
        #[arg(long)]
        role: String,
        /// Department code (department users only).
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

pub fn main() -> ExitCode {
    crate::interfaces::app::telemetry::init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What a command that does not start the whole service uses, said once at its start, as
/// `serve` and the others say it from `AppState::bootstrap`.
fn announce(database: bool) -> anyhow::Result<()> {
    let nlp_dir = std::env::var_os("HCP_NLP_DIR").filter(|d| !d.is_empty()).map(std::path::PathBuf::from);
    if let Some(dir) = &nlp_dir {
        let taken = crate::adapters::nlp::tokenize::Tokenizer::override_from(dir);
        tracing::info!(nlp_dir = %dir.display(), overrides = ?taken, "HCP_NLP_DIR set: its files override the built-in ones");
    }
    let models = nlp_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_else(|| "built-in".into());
    if database {
        let config = Config::from_env(None)?;
        tracing::info!(database = %crate::interfaces::app::redacted(&config.database_url), models = %models, public_url = %config.public_url, "haochaping starting");
    } else {
        tracing::info!(models = %models, "haochaping starting (no database)");
    }
    Ok(())
}

/// glibc's malloc keeps freed memory per arena, and gives each busy thread an arena (up to 8 per
/// core), and after one free of a large block it stops mapping blocks of that size: each
/// argon2 hash (19 MiB) then stays resident on whichever blocking thread ran it. Two arenas and
/// a fixed mmap threshold return large blocks to the system when freed (issue 18: peak RSS).
/// Only for the service: a command that runs once and exits (`cluster`) is faster with glibc's
/// own choices, which map and fault in its large working buffers once instead of every pass.
fn bound_malloc_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before the service starts its threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Migrate | Command::Backup { .. } | Command::RotateSecret => announce(true)?,
        Command::Cluster { .. } | Command::TrainRouter { .. } | Command::Route { .. } => announce(false)?,
        _ => {}
    }
    match cli.command {
        Command::Migrate => {
            let config = Config::from_env(None)?;
            let pool = crate::storage::DbPool::connect(&config.database_url, 1)?;
            let applied = pool.migrate()?;
            eprintln!("migrations applied: {applied}");
            Ok(())
        }
        Command::Serve { demo, bind } => {
            bound_malloc_memory();
            serve(Config::from_env(bind)?, demo)
        }
        Command::Cluster { input, encoding, text_column, label_column, k, seed, n_init, out } => {
            crate::interfaces::cli::text::cluster(&crate::interfaces::cli::text::ClusterArgs { input, encoding, text_column, label_column, k, seed, n_init, out })
        }
        Command::TrainRouter { input, encoding, text_column, label_column, out, c } => {
            crate::interfaces::cli::text::train_router(&input, encoding, &text_column, &label_column, &out, c)
        }
        Command::Route { model, input, encoding, text_column, label_column, out } => {
            crate::interfaces::cli::text::route(&model, &input, encoding, &text_column, label_column.as_deref(), &out)
        }
        Command::Report { month, format, min_ratings, out } => {
            // Every argument is checked before any work: a typo fails at once, not after the figures.
            crate::insight::stats::Period::month(&month).map_err(|e| anyhow::anyhow!("--month {month:?}: {e} (e.g. 2026-11)"))?;
            let request = crate::insight::frozen_reports::ReportRead::parse(&month, Some(&format), min_ratings, None).map_err(|e| anyhow::anyhow!("{e}"))?;
            let folder = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            if !folder.is_dir() {
                anyhow::bail!("--out {}: the folder {} does not exist", out.display(), folder.display());
            }
            if out.is_dir() {
                anyhow::bail!("--out {} is a folder; name the file to write", out.display());
            }
            let state = AppState::bootstrap(existing_database()?)?;
            let mut conn = state.conn()?;
            let rules = state.rules(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
            // The same report the API serves: a closed month's stored version (frozen first if it
            // was not yet), the current month live; never a second, different figure.
            eprintln!("report {month}: reading the stored version, or gathering figures, rankings, clusters and overdue cases…");
            let served = crate::insight::frozen_reports::monthly_report(&mut conn, &request, crate::clock::now(), &rules, state.config.report_freeze_days)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let bytes = match request.format {
                // A file opened from disk has no /static/: the stylesheet goes inside.
                crate::insight::frozen_reports::ServedFormat::Html => String::from_utf8_lossy(&served.bytes)
                    .replacen(crate::insight::monthly::STYLESHEET_LINK, &format!("<style>{}</style>", crate::adapters::render::APP_CSS), 1)
                    .into_bytes(),
                _ => served.bytes,
            };
            std::fs::write(&out, &bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            eprintln!("report {month}: {} → {} ({} bytes)", served.status.text(), out.display(), bytes.len());
            Ok(())
        }
        Command::Import { kind, input, dry_run, links_out, qr_dir } => import(&kind, &input, dry_run, links_out.as_deref(), qr_dir.as_deref()),
        Command::Scan { at, allow_future } => {
            let state = AppState::bootstrap(existing_database()?)?;
            let now = crate::clock::now();
            let at = at.map(|t| t.with_timezone(&chrono::Utc)).unwrap_or(now);
            // A scan dated in the future would write alerts and queue mails dated then.
            let dry_run = at > now + chrono::Duration::seconds(5) && !allow_future;
            let mut conn = state.conn()?;
            let rules = state.rules(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
            let started = std::time::Instant::now();
            #[derive(serde::Serialize)]
            struct ScanOutput {
                #[serde(flatten)]
                round: crate::interfaces::jobs::ScanRound,
                dry_run: bool,
            }
            let (retention_years, freeze_days, integrity) = (state.config.retention_years, state.config.report_freeze_days, state.config.integrity);
            // `haochaping scan` always tracks topics (serve's scanner does every quarter hour).
            let topics = crate::insight::topics::TopicScan { new_topic_alert_size: state.config.new_topic_alert_size, min_interval: None };
            let run = |conn: &mut crate::storage::Conn| -> Result<ScanOutput, crate::error::AppError> {
                Ok(ScanOutput { round: crate::interfaces::jobs::scan_round(conn, at, &rules, retention_years, freeze_days, &integrity, &topics)?, dry_run })
            };
            let output = if dry_run {
                // Everything inside one transaction that is rolled back: what it would raise.
                let mut seen = None;
                let rolled_back = conn.transaction::<(), crate::error::AppError>(|conn| {
                    seen = Some(run(conn)?);
                    Err(crate::error::AppError::Unavailable("dry run".into()))
                });
                match (rolled_back, seen) {
                    (Err(crate::error::AppError::Unavailable(m)), Some(output)) if m == "dry run" => output,
                    (Err(e), _) => return Err(anyhow::anyhow!("{e}")),
                    _ => anyhow::bail!("the dry run was not rolled back"),
                }
            } else {
                run(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?
            };
            let note = if dry_run { " — dry run: --at is in the future, nothing was written (--allow-future writes)" } else { "" };
            eprintln!(
                "{}; default ratings given: {}; personal data erased of {} cases closed over {retention_years} years ago ({:.2} s){note}",
                output.round.deadlines,
                output.round.default_ratings,
                output.round.personal_data_erased,
                started.elapsed().as_secs_f64()
            );
            println!("{}", serde_json::to_string(&output)?);
            Ok(())
        }
        Command::Rekey => {
            let config = existing_database()?;
            anyhow::ensure!(config.data_key.is_some(), "rekey seals under HCP_DATA_KEY: set it (64 hex characters; the old key in HCP_DATA_KEY_PREVIOUS)");
            let state = AppState::bootstrap(config)?;
            let current = crate::storage::personal_data::current_key_id().ok_or_else(|| anyhow::anyhow!("no key installed"))?;
            let mut conn = state.conn()?;
            let started = std::time::Instant::now();
            let mut progress = |table: &str, rows: u64| eprintln!("rekey: {table}: {rows} rows examined");
            let done = crate::admin::data_keys::rekey(&mut conn, &current, &mut progress).map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "rekey: {} values sealed again and {} lookup hashes updated in {} rows under key {current} ({:.2} s); HCP_DATA_KEY_PREVIOUS can now be removed",
                done.values_sealed_again,
                done.lookup_hashes_updated,
                done.rows_examined,
                started.elapsed().as_secs_f64()
            );
            println!("{}", serde_json::to_string(&done)?);
            Ok(())
        }
        Command::ReindexSearch { retokenise } => reindex_search(retokenise),
        Command::Backup { out } => backup(&out),
        Command::ExportEvaluations { after, out } => export_evaluations(after.as_deref(), &out),
        Command::RotateSecret => {
            let config = existing_database()?;
            let new_secret = std::env::var("HCP_NEW_SECRET").ok().filter(|v| !v.trim().is_empty());
            let pool = crate::storage::DbPool::connect(&config.database_url, 1)?;
            pool.migrate()?;
            let mut conn = pool.get()?;
            let rotation = crate::admin::signing_keys::rotate(&mut conn, config.secret.as_deref(), new_secret.as_deref(), crate::clock::now())?;
            let next = match rotation.kept_in {
                "database" => "the database keeps the new key: unset HCP_SECRET, if set, and restart every instance".to_owned(),
                _ => "set HCP_SECRET to the value of HCP_NEW_SECRET and restart every instance".to_owned(),
            };
            eprintln!(
                "rating links are now signed with key {} (fingerprint {}); links of key {} keep working until {}; {next}",
                rotation.key_id,
                rotation.fingerprint,
                rotation.retired_key_id,
                crate::clock::display_local(rotation.old_links_valid_until.naive_utc())
            );
            println!("{}", serde_json::to_string(&rotation)?);
            Ok(())
        }
        Command::User { command: UserCommand::Add { username, role, department, email, password_stdin: _ } } => {
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role:?}: admin, supervisor or department"))?;
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let state = AppState::bootstrap(existing_database()?)?;
            let mut conn = state.conn()?;
            let spec = NewUserSpec { username: &username, password, role, department_code: department.as_deref(), email: email.as_deref() };
            let user = conn
                .transaction(|conn| {
                    let user = accounts::create_user(conn, &spec, crate::clock::now())?;
                    crate::admin::master_data::audit_admin_change(
                        conn,
                        "cli",
                        "create_user",
                        serde_json::json!({"username": user.username, "role": user.role, "department_code": department}),
                        crate::clock::now(),
                    )?;
                    Ok::<_, crate::error::AppError>(user)
                })
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("created user {} ({})", user.username, user.role);
            Ok(())
        }
    }
}

/// The configuration of a command that works on an existing database: a SQLite file that is
/// not there is an error (a typo would otherwise create an empty database and report zeros).
fn existing_database() -> anyhow::Result<Config> {
    let config = Config::from_env(None)?;
    if let Some(file) = crate::storage::sqlite_file(&config.database_url) {
        if !file.exists() {
            anyhow::bail!(
                "no database at {}: set DATABASE_URL to the service's database, or create one with `haochaping migrate` (or `serve`)",
                file.display()
            );
        }
    }
    Ok(config)
}

fn export_evaluations(after: Option<&str>, out: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    let mut cursor = crate::insight::exchange::Cursor::parse(after).map_err(|e| anyhow::anyhow!("--after: {e}"))?;
    let state = AppState::bootstrap(existing_database()?)?;
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(out).map_err(|e| anyhow::anyhow!("{}: {e} (the file must not exist yet)", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let mut conn = state.conn()?;
    let now = crate::clock::now();
    let mut written = 0u64;
    loop {
        let page = crate::insight::exchange::evaluations(&mut conn, cursor, crate::insight::exchange::MAX_PAGE, now).map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(next) = page.next_cursor else { break };
        for record in &page.items {
            serde_json::to_writer(&mut writer, record)?;
            writer.write_all(b"\n")?;
        }
        written += page.items.len() as u64;
        cursor = crate::insight::exchange::Cursor::parse(Some(&next)).map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!("export-evaluations: {written} records…");
    }
    writer.flush()?;
    eprintln!("export-evaluations: {written} records written to {}; go on with --after {cursor}", out.display());
    println!("{}", serde_json::json!({"records": written, "next_cursor": cursor.to_string()}));
    Ok(())
}

fn backup(out: &std::path::Path) -> anyhow::Result<()> {
    let config = existing_database()?;
    if crate::storage::backend_of(&config.database_url)? == crate::storage::Backend::Postgres {
        anyhow::bail!(
            "DATABASE_URL is PostgreSQL: back it up with `pg_dump --format=custom --file=haochaping.dump \"$DATABASE_URL\"` \
             and restore with `pg_restore --clean --if-exists --no-owner --dbname=\"$DATABASE_URL\" haochaping.dump` (README, Production)"
        );
    }
    if out.exists() {
        anyhow::bail!("{} exists already: a backup never overwrites a file", out.display());
    }
    let started = std::time::Instant::now();
    eprintln!("backup: copying {} → {}…", crate::storage::sqlite_file(&config.database_url).unwrap_or_default().display(), out.display());
    let pool = crate::storage::DbPool::connect(&config.database_url, 1)?;
    crate::storage::backup_sqlite_into(&mut pool.get()?, out).map_err(|e| anyhow::anyhow!("backup into {}: {e}", out.display()))?;
    let copied = started.elapsed().as_secs_f64();
    // Checked as a restore would use it: the file opens, SQLite finds it sound, the chain verifies.
    let copy = crate::storage::DbPool::connect(&format!("sqlite://{}", out.display()), 1)?;
    let mut conn = copy.get()?;
    let integrity = crate::storage::sqlite_integrity_check(&mut conn)?;
    let chain = crate::storage::audit::verify(&mut conn)?;
    let counts = crate::storage::table_counts(&mut conn)?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "backup: {} bytes in {copied:.2} s; integrity {integrity}; audit chain {} ({} events); {} reviews, {} cases",
        bytes,
        if chain.ok { "verifies" } else { "BROKEN" },
        chain.events_checked,
        counts.reviews,
        counts.cases
    );
    println!("{}", serde_json::json!({"out": out, "bytes": bytes, "seconds": copied, "integrity": integrity, "audit": chain, "counts": counts}));
    if integrity != "ok" || !chain.ok {
        anyhow::bail!("the copy at {} does not check out; keep the previous backup", out.display());
    }
    Ok(())
}

fn import(kind: &str, input: &std::path::Path, dry_run: bool, links_out: Option<&std::path::Path>, qr_dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    use crate::domain::import::ImportKind;
    let kind = ImportKind::parse(kind).ok_or_else(|| anyhow::anyhow!("unknown --kind {kind}"))?;
    if links_out.is_some() && kind != ImportKind::Transactions {
        anyhow::bail!("--links-out is for --kind transactions");
    }
    if let Some(dir) = qr_dir {
        if !dir.is_dir() {
            anyhow::bail!("--qr-dir {}: not a folder (create it first)", dir.display());
        }
    }
    let file = std::fs::File::open(input).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", input.display()))?;
    let state = AppState::bootstrap(existing_database()?)?;
    let mut conn = state.conn()?;
    let now = crate::clock::now();
    let started = std::time::Instant::now();
    eprintln!("import {}: reading {}{}…", kind.as_str(), input.display(), if dry_run { " (dry run)" } else { "" });
    let source = crate::adapters::tabular::TableSource::File(file);
    let (report, numbers) = match kind {
        ImportKind::Transactions => {
            let mut progress = |rows: u64| eprintln!("import transactions: {rows} rows read ({:.1} s)", started.elapsed().as_secs_f64());
            crate::intake::import::import_transactions(&mut conn, source, dry_run, links_out.is_some(), now, &mut progress)
        }
        _ => crate::admin::import::import_master_data(&mut conn, "cli:import", kind, source, dry_run, now).map(|r| (r, Vec::new())),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    for e in &report.errors {
        eprintln!("第 {} 行 · {}：{}", e.line, e.column, e.reason);
    }
    if report.errors_not_listed > 0 {
        eprintln!("……另有 {} 行有误，未逐一列出", report.errors_not_listed);
    }
    eprintln!("{} ({:.1} s)", report.summary(), started.elapsed().as_secs_f64());
    if let (Some(path), true) = (links_out, report.written) {
        let mut out = csv::Writer::from_path(path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        out.write_record(["办件编号", "评价链接"])?;
        let expires = crate::intake::rating_link_expiry(now);
        for (n, no) in numbers.iter().enumerate() {
            let token = state.signer.sign(no, expires);
            out.write_record([no.as_str(), &format!("{}/rate/{token}", state.config.public_url)])?;
            if let Some(dir) = qr_dir {
                // A file name from the number: only what every file system takes.
                let name: String = no.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
                let png = crate::adapters::render::qr::png(&crate::interfaces::web::rating::qr_target(&state, &token), 8).map_err(|e| anyhow::anyhow!("QR code of {no}: {e}"))?;
                std::fs::write(dir.join(format!("{name}.png")), png)?;
                if (n + 1) % 10_000 == 0 {
                    eprintln!("QR codes: {} of {}", n + 1, numbers.len());
                }
            }
        }
        out.flush()?;
        eprintln!("rating links of {} transactions → {}{}", numbers.len(), path.display(), qr_dir.map(|d| format!(", QR codes → {}", d.display())).unwrap_or_default());
    }
    println!("{}", serde_json::to_string(&report)?);
    if report.has_errors() {
        std::process::exit(2);
    }
    Ok(())
}

fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let bind = config.bind;
    let state = AppState::bootstrap(config)?;
    if demo {
        crate::interfaces::cli::demo::seed(&state)?;
    }
    {
        let mut conn = state.conn()?;
        let rules = state.rules(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
        for year in crate::domain::calendar::unconfirmed_years(&rules.calendar, crate::domain::calendar::local_date(crate::clock::now())) {
            tracing::warn!(
                year,
                "the {year} working-day calendar is provisional (statutory holidays only, no 调休): deadlines in {year} may move; \
                 enter the State Council's notice with PUT /api/v1/calendar/{year} or on /admin/calendar"
            );
        }
    }
    let listener = TcpListener::bind(bind).map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
    let metrics_listener = match state.config.metrics_bind {
        Some(addr) => Some(TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on HCP_METRICS_BIND {addr}: {e}"))?),
        None => None,
    };
    tracing::info!(%bind, backend = ?state.pool.backend(), metrics = %state.config.metrics_bind.map(|a| format!("http://{a}/metrics")).unwrap_or_else(|| format!("http://{bind}/metrics")), "haochaping listening; open http://{bind}/");
    actix_web::rt::System::new().block_on(async move {
        crate::interfaces::jobs::spawn(state.clone());
        if let Some(listener) = metrics_listener {
            actix_web::rt::spawn(crate::interfaces::http::build_metrics_server(state.clone(), listener)?);
        }
        let server = crate::interfaces::http::build_server(state, listener, None)?;
        server.await
    })?;
    Ok(())
}

/// `--c`: a finite number above zero.
fn positive_c(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(c) if c.is_finite() && c > 0.0 => Ok(c),
        _ => Err(format!("C must be a number above 0, got {s:?}")),
    }
}

/// `haochaping reindex-search`: progress on stderr every 10 000 texts, the report on stdout.
fn reindex_search(retokenise: bool) -> anyhow::Result<()> {
    use crate::insight::search;
    let config = existing_database()?;
    let state = AppState::bootstrap(config)?;
    let mut conn = state.conn()?;
    let started = std::time::Instant::now();
    let (texts, before) = search::index_counts(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("reindex-search: {texts} texts stored, {before} in the index");
    // Every 10 000 texts of a pass.
    let every = |what: &'static str| {
        let mut shown = 0u64;
        move |done: u64| {
            if done >= shown + 10_000 {
                shown = done;
                eprintln!("reindex-search: {what} {done} ({:.0} s)", started.elapsed().as_secs_f64());
            }
        }
    };
    let mut report = search::IndexReport::default();
    if retokenise {
        report.retokenised = search::retokenise_all(&mut conn, &mut every("cut again")).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    report.indexed = search::index_missing(&mut conn, &mut every("indexed")).map_err(|e| anyhow::anyhow!("{e}"))?;
    report.documents = search::index_counts(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?.1;
    eprintln!(
        "reindex-search: {} texts indexed, {} cut again, {} documents in the index ({:.1} s)",
        report.indexed,
        report.retokenised,
        report.documents,
        started.elapsed().as_secs_f64()
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
