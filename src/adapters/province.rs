//! The provincial 好差评 platform's receiving end: one batch of evaluation records per POST.

use std::time::Duration;

use serde_json::Value;

/// A client for the platform: rustls with the system's roots, no redirects, 30 s per batch.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).connect_timeout(Duration::from_secs(5)).redirect(reqwest::redirect::Policy::none()).build()
}

/// POSTs `{"records":[…]}`; the platform upserts each by its `idempotencyKey` (projectNo +
/// assessNumber), so a batch sent twice changes nothing. `Err` with the reason when it is not
/// taken (no answer, or not a 2xx).
pub async fn post_batch(client: &reqwest::Client, url: &str, token: Option<&str>, batch_key: &str, records: &[Value]) -> Result<(), String> {
    let mut request = client.post(url).header("Idempotency-Key", batch_key).json(&serde_json::json!({"records": records}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("HTTP {}", response.status())),
        Err(e) => Err(e.to_string()),
    }
}
