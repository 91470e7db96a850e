//! The authorisation matrix: every endpoint × every kind of caller, from the one table in
//! `common/endpoints.rs`. A route registered without a row fails here.

mod common;

use std::collections::BTreeSet;

use common::endpoints::{self, Body, Fixture, WHO};
use common::TestApp;

on_both_backends!(every_endpoint_answers_every_caller_as_the_table_says);

#[test]
fn every_route_has_a_row() {
    let table: BTreeSet<(String, String)> = endpoints::all().iter().map(|e| (e.method.to_owned(), e.route.to_owned())).collect();
    let routes: BTreeSet<(String, String)> = endpoints::routes_in_source().into_iter().collect();
    assert!(routes.len() > 50, "the route reader found only {routes:?}");
    let missing: Vec<_> = routes.difference(&table).collect();
    assert!(missing.is_empty(), "routes without a row in tests/common/endpoints.rs: {missing:?}");
    let stale: Vec<_> = table.difference(&routes).collect();
    assert!(stale.is_empty(), "rows for routes that do not exist: {stale:?}");
}

async fn every_endpoint_answers_every_caller_as_the_table_says(app: TestApp) {
    let f = Fixture::build(&app).await;
    let mut wrong = Vec::new();
    for ep in endpoints::all() {
        let cells: Vec<&str> = ep.expect.split_whitespace().collect();
        assert_eq!(cells.len(), WHO.len(), "{} {}: one cell per caller", ep.method, ep.path);
        for (who, cell) in WHO.iter().zip(cells) {
            let (status, body) = endpoints::call(&app, &f, &ep, who, None, None, None).await;
            let fits = match cell {
                // Allowed and served: the fixture gives every allowed caller what its request
                // needs (a case of its own, an unrated transaction, fresh codes), so nothing
                // short of success fits. A page form's success may be its Post/Redirect/Get.
                "ok" => (200..300).contains(&status) || (matches!(ep.body, Body::Form(_)) && status == 303 && !body.starts_with("redirect to /login")),
                exact => exact.parse::<u16>().ok() == Some(status),
            };
            if !fits {
                let body: String = body.chars().take(160).collect();
                wrong.push(format!("{} {} as {who}: expected {cell}, got {status} {body}", ep.method, ep.path));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cells differ:\n{}", wrong.len(), wrong.join("\n"));
}
