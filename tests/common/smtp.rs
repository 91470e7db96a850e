//! A minimal SMTP server on loopback for the mail tests: it speaks the protocol lettre uses
//! (EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, QUIT), over plain TCP or TLS with the
//! test certificate in `tests/fixtures/smtp-tls` (a CA and a server certificate for
//! localhost and 127.0.0.1, valid until 2126), and keeps what it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    /// Whether the mail came over TLS, and as which signed-in user.
    pub over_tls: bool,
    pub user: Option<String>,
}

/// How the sink speaks: TLS from the first byte, STARTTLS offered, or plain; and whether it
/// demands a sign-in before it takes a mail.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    pub implicit_tls: bool,
    pub offer_starttls: bool,
    pub login: Option<(String, String)>,
}

pub const TEST_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp-tls/ca.pem");

pub struct SmtpSink {
    pub received: Arc<Mutex<Vec<ReceivedMail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn acceptor() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp-tls");
    let certs = CertificateDer::pem_file_iter(format!("{dir}/server.pem")).expect("server.pem").collect::<Result<Vec<_>, _>>().expect("certificates");
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/server.key")).expect("server.key");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

impl SmtpSink {
    pub async fn start(addr: SocketAddr) -> SmtpSink {
        Self::start_with(addr, SinkOptions::default()).await
    }

    pub async fn start_with(addr: SocketAddr, options: SinkOptions) -> SmtpSink {
        let listener = TcpListener::bind(addr).await.expect("bind SMTP sink");
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&received);
        let tls = acceptor();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (store, options, tls) = (Arc::clone(&store), options.clone(), tls.clone());
                tokio::spawn(async move {
                    if options.implicit_tls {
                        if let Ok(stream) = tls.accept(socket).await {
                            let _ = converse(stream, &store, &options, true, true).await;
                        }
                    } else if let Ok(Some(plain)) = converse(socket, &store, &options, false, true).await {
                        // STARTTLS: the same connection, now encrypted; the client greets again.
                        if let Ok(stream) = tls.accept(plain).await {
                            let _ = converse(stream, &store, &options, true, false).await;
                        }
                    }
                });
            }
        });
        SmtpSink { received, task }
    }

    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.received.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// The conversation on `stream`; answers the stream back when the client asked for STARTTLS.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    store: &Mutex<Vec<ReceivedMail>>,
    options: &SinkOptions,
    over_tls: bool,
    greet: bool,
) -> std::io::Result<Option<S>> {
    let mut stream = BufReader::new(stream);
    if greet {
        stream.write_all(b"220 sink ESMTP\r\n").await?;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |text: &str| String::from_utf8(b64.decode(text.trim()).unwrap_or_default()).unwrap_or_default();
    let mut to = Vec::new();
    let mut user: Option<String> = None;
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            let mut answer = String::from("250-sink\r\n250-8BITMIME\r\n");
            if options.offer_starttls && !over_tls {
                answer.push_str("250-STARTTLS\r\n");
            }
            // Like real relays: sign-in only once the line is encrypted.
            if options.login.is_some() && over_tls {
                answer.push_str("250-AUTH PLAIN LOGIN\r\n");
            }
            answer.push_str("250 SMTPUTF8\r\n");
            stream.write_all(answer.as_bytes()).await?;
        } else if upper.starts_with("STARTTLS") && options.offer_starttls && !over_tls {
            stream.write_all(b"220 go ahead\r\n").await?;
            stream.flush().await?;
            return Ok(Some(stream.into_inner()));
        } else if upper.starts_with("AUTH") && over_tls && options.login.is_some() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (name, password) = match words.get(1).map(|m| m.to_ascii_uppercase()).as_deref() {
                Some("PLAIN") => {
                    let payload = match words.get(2) {
                        Some(p) => decode(p),
                        None => {
                            stream.write_all(b"334 \r\n").await?;
                            line.clear();
                            stream.read_line(&mut line).await?;
                            decode(&line)
                        }
                    };
                    let mut parts = payload.split('\0').skip(1);
                    (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned())
                }
                Some("LOGIN") => {
                    stream.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                    line.clear();
                    stream.read_line(&mut line).await?;
                    let name = decode(&line);
                    stream.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
                    line.clear();
                    stream.read_line(&mut line).await?;
                    (name, decode(&line))
                }
                _ => (String::new(), String::new()),
            };
            if options.login.as_ref() == Some(&(name.clone(), password)) {
                user = Some(name);
                stream.write_all(b"235 2.7.0 accepted\r\n").await?;
            } else {
                stream.write_all(b"535 5.7.8 bad credentials\r\n").await?;
            }
        } else if upper.starts_with("MAIL FROM") && options.login.is_some() && user.is_none() {
            stream.write_all(b"530 5.7.0 authentication required\r\n").await?;
        } else if upper.starts_with("HELO") || upper.starts_with("MAIL FROM") || upper.starts_with("RSET") || upper.starts_with("NOOP") {
            stream.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO") {
            let addr = line.trim().trim_start_matches(|c| c != '<').trim_matches(['<', '>']).to_owned();
            to.push(addr);
            stream.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("DATA") {
            stream.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if stream.read_line(&mut line).await? == 0 {
                    return Ok(None);
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            let mut mail = parse(std::mem::take(&mut to), &data);
            mail.over_tls = over_tls;
            mail.user = user.clone();
            if let Ok(mut m) = store.lock() {
                m.push(mail);
            }
            stream.write_all(b"250 queued\r\n").await?;
        } else if upper.starts_with("QUIT") {
            stream.write_all(b"221 bye\r\n").await?;
            stream.flush().await?;
            return Ok(None);
        } else {
            stream.write_all(b"502 not implemented\r\n").await?;
        }
        stream.flush().await?;
    }
}

fn parse(to: Vec<String>, data: &str) -> ReceivedMail {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    // Unfold continuation lines.
    let head = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let header = |name: &str| {
        head.lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase())))
            .map(|l| l[name.len() + 1..].trim().to_owned())
            .unwrap_or_default()
    };
    let subject = decode_words(&header("Subject"));
    let encoding = header("Content-Transfer-Encoding").to_ascii_lowercase();
    let body = if encoding == "base64" {
        let compact: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_default()).unwrap_or_default()
    } else {
        body.to_owned()
    };
    ReceivedMail { to, subject, body, message_id: header("Message-ID"), over_tls: false, user: None }
}

/// Decodes RFC 2047 `=?utf-8?b?…?=` words (what lettre writes for non-ASCII subjects).
fn decode_words(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        if lower.starts_with("=?utf-8?b?") && word.ends_with("?=") {
            let payload = &word[10..word.len() - 2];
            let bytes = base64::engine::general_purpose::STANDARD.decode(payload).unwrap_or_default();
            out.push_str(&String::from_utf8_lossy(&bytes));
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}
