//! The review-load fixture, shared by the durability test and the load generator
//! (`tools/loadgen` includes this file): master data, an integration key and `n` completed
//! transactions waiting for their review (`BENCH-00000000`…); migrates first.

use std::sync::Arc;

use anyhow::anyhow;
use diesel::RunQueryDsl;

use haochaping::clock;
use haochaping::db_run;
use haochaping::storage::models::NewTransaction;
use haochaping::storage::schema::transactions;
use haochaping::storage::DbPool;

pub fn seed_review_load(url: &str, n: usize) -> anyhow::Result<(String, Arc<Vec<String>>)> {
    let pool = DbPool::connect(url, 1)?;
    pool.migrate()?;
    let mut conn = pool.get()?;
    let now = clock::now();
    let department = haochaping::admin::master_data::create_department(&mut conn, "bench", "BENCH", "基准测试局", None, None, now)
        .map_err(|e| anyhow!("{e}"))?;
    let item = haochaping::admin::master_data::create_service_item(&mut conn, "bench", "BENCH-1", "基准测试事项", "BENCH", now)
        .map_err(|e| anyhow!("{e}"))?;
    let (_, key) = haochaping::admin::accounts::create_api_key(&mut conn, "bench", now).map_err(|e| anyhow!("{e}"))?;
    let nos: Vec<String> = (0..n).map(|i| format!("BENCH-{i:08}")).collect();
    let at = clock::to_db(now);
    for chunk in nos.chunks(1_000) {
        let rows: Vec<NewTransaction> = chunk
            .iter()
            .map(|no| NewTransaction {
                transaction_no: no,
                service_item_id: item.id,
                department_id: department.id,
                window_id: None,
                staff_id: None,
                channel: "pc",
                applicant_name: None,
                applicant_phone: None,
                applicant_phone_hash: None,
                applicant_email: None,
                accepted_at: None,
                completed_at: at,
                created_at: at,
            })
            .collect();
        db_run!(&mut conn, |c| diesel::insert_into(transactions::table).values(&rows).execute(c))?;
    }
    Ok((key, Arc::new(nos)))
}
