//! Issue 18 item 6: every rating link as a QR code (SVG and PNG) that decodes back to the link;
//! a rating made from the code is recorded with channel `qr`; `import --qr-dir` writes one per
//! transaction for printed slips.

mod common;

use common::{Backend, TestApp};
use serde_json::json;

/// The text of the one QR code in a PNG, read back with a decoder.
fn decode_png(bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("png frame");
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("decodes").1
}

#[actix_web::test]
async fn rating_links_as_qr_codes_record_their_channel() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let d = app.seed().await;
    let t = app.transaction(&d, "QR-1", "I1", json!({})).await;
    let token = t["rating_token"].as_str().expect("token").to_owned();

    let png = app.client.get(app.url(&format!("/rate/{token}/qr.png"))).send().await.expect("png");
    assert_eq!(png.status().as_u16(), 200);
    assert_eq!(png.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("image/png"));
    let target = decode_png(&png.bytes().await.expect("bytes"));
    assert_eq!(target, format!("{}/rate/{token}?via=qr", app.base), "the code carries the rating link");
    let svg = app.client.get(app.url(&format!("/rate/{token}/qr.svg"))).send().await.expect("svg");
    assert_eq!(svg.status().as_u16(), 200);
    assert_eq!(svg.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("image/svg+xml"));
    assert!(svg.text().await.unwrap_or_default().contains("<svg"), "an SVG image");
    let expired = app.state.signer.sign("QR-1", chrono::Utc::now() - chrono::Duration::minutes(1));
    assert_eq!(app.client.get(app.url(&format!("/rate/{expired}/qr.png"))).send().await.expect("expired").status().as_u16(), 410);
    assert_eq!(app.client.get(app.url("/rate/1.forged.link/qr.svg")).send().await.expect("forged").status().as_u16(), 404);
    assert_eq!(app.client.get(app.url(&format!("/rate/{token}/qr.gif"))).send().await.expect("gif").status().as_u16(), 404);

    // Scanned: the page remembers how the citizen came, and the rating says so.
    let page = app.client.get(&target).send().await.expect("page").text().await.expect("html");
    assert!(page.contains(r#"name="via" value="qr""#), "the form carries via=qr");
    let form = haochaping::interfaces::web::rating::form_token(&app.state, &token);
    let posted = app
        .client
        .post(app.url(&format!("/rate/{token}")))
        .form(&[("form", form.as_str()), ("via", "qr"), ("stars", "5")])
        .send()
        .await
        .expect("rate");
    assert!(posted.status().is_success() || posted.status().is_redirection(), "{}", posted.status());
    assert_eq!(app.count("reviews r JOIN transactions t ON t.id = r.transaction_id WHERE t.transaction_no = 'QR-1' AND r.channel = 'qr'"), 1);

    // Printed slips: import with --qr-dir writes a code per transaction, each decoding to its link.
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("t.csv");
    std::fs::write(&input, "办件编号,事项编码,办结时间\nQR/2,I1,2026-11-23 10:00\nQR-3,I1,2026-11-23 11:00\n").expect("csv");
    let (links, codes) = (dir.path().join("links.csv"), dir.path().join("qr"));
    std::fs::create_dir(&codes).expect("qr dir");
    let out = app.cli(&["import", "--kind", "transactions", "--input", &input.to_string_lossy(), "--links-out", &links.to_string_lossy(), "--qr-dir", &codes.to_string_lossy()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(&links).expect("links");
    for (no, file) in [("QR/2", "QR_2.png"), ("QR-3", "QR-3.png")] {
        let link = written.lines().find(|l| l.starts_with(&format!("{no},"))).and_then(|l| l.split(',').nth(1)).expect("link").to_owned();
        let decoded = decode_png(&std::fs::read(codes.join(file)).expect("png file"));
        assert_eq!(decoded, format!("{link}?via=qr"), "{no}");
    }
}
