//! TLS on loopback: an HTTPS listener, `http.request` to HTTPS upstreams (own CA, mutual TLS), and the
//! failures (unknown CA, plain text on the TLS port, missing files). Certificates are generated per run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use relais_engine::runtime::{Event, Runtime};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA, a server certificate for localhost / 127.0.0.1 and a client certificate, as PEM files in `dir`.
struct Pki {
    dir: PathBuf,
    ca: CertificateDer<'static>,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, stem: &str| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names).unwrap().signed_by(&key, &issuer).unwrap();
            std::fs::write(dir.join(format!("{stem}.crt")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem()).unwrap();
        };
        leaf(vec!["localhost".into(), "127.0.0.1".into()], "server");
        leaf(vec!["relais-client".into()], "client");
        std::fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
        Pki { dir: dir.to_path_buf(), ca: ca_cert.der().clone() }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    fn client_config(&self, alpn: &[&[u8]]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

async fn start(dir: &Path) -> Result<relais_engine::daemon::Daemon, String> {
    let loaded = relais_engine::cli::check::check_paths(&[dir.to_path_buf()], None);
    let errors: Vec<_> = loaded.diags.iter().filter(|d| d.severity == relais_dsl::Severity::Error).collect();
    assert!(errors.is_empty(), "{:?}", errors.iter().map(|d| &d.message).collect::<Vec<_>>());
    let program = relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    )
    .ok()
    .unwrap();
    relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await
}

/// One HTTPS request over a fresh TLS connection: negotiated protocol, and the raw answer.
async fn https_get(addr: std::net::SocketAddr, config: rustls::ClientConfig, path: &str) -> (Option<Vec<u8>>, String) {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    if alpn.as_deref() == Some(b"h2") {
        return (alpn, String::new());
    }
    let head = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    tls.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    (alpn, String::from_utf8_lossy(&raw).to_string())
}

fn listener_flows(pki: &Pki) -> String {
    format!(
        r##"
configs:
  secure: {{ http.listener: {{ port: 0, tls: {{ cert: "{}", key: "{}" }} }} }}
flows:
  hello:
    source: {{ http.listener: {{ config: secure, method: GET, path: /hello }} }}
    steps:
      - set_payload: "#[#{{ hello: \"over TLS\" }}]"
"##,
        pki.path("server.crt"),
        pki.path("server.key")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_listener_serves_http1_and_negotiates_http2() {
    let dir = support::write_files(&[]);
    let pki = Pki::new(&dir);
    std::fs::write(dir.join("flows.yaml"), listener_flows(&pki)).unwrap();
    let daemon = start(&dir).await.unwrap();
    let addr = daemon.listeners[0].1;
    let (alpn, answer) = https_get(addr, pki.client_config(&[b"http/1.1"]), "/hello").await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(r#"{"hello":"over TLS"}"#), "{answer}");
    let (alpn, _) = https_get(addr, pki.client_config(&[b"h2", b"http/1.1"]), "/hello").await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]), "HTTP/2 is offered through ALPN");
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_text_on_the_tls_port_is_dropped_and_the_next_client_is_served() {
    let dir = support::write_files(&[]);
    let pki = Pki::new(&dir);
    std::fs::write(dir.join("flows.yaml"), listener_flows(&pki)).unwrap();
    let daemon = start(&dir).await.unwrap();
    let addr = daemon.listeners[0].1;
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut raw)).await.unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("over TLS"));
    let (_, answer) = https_get(addr, pki.client_config(&[]), "/hello").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_certificate_file_is_missing_does_not_start_and_names_the_file() {
    let dir = support::write_files(&[(
        "flows.yaml",
        r##"
configs:
  secure: { http.listener: { port: 0, tls: { cert: /nonexistent/server.crt, key: /nonexistent/server.key } } }
flows:
  hello:
    source: { http.listener: { config: secure, method: GET, path: /hello } }
    steps: []
"##,
    )]);
    let error = start(&dir).await.err().unwrap();
    assert!(error.contains("/nonexistent/server.crt"), "{error}");
}

/// The flows of a caller: `http.request` to `base_url` with the given `tls` block.
fn caller(base_url: &str, tls: &str) -> String {
    format!(
        r##"
configs:
  partner: {{ http.client: {{ base_url: "{base_url}", timeout: 5s {tls} }} }}
sub_flows:
  call:
    steps:
      - http.request: {{ config: partner, method: GET, path: /hello }}
"##
    )
}

async fn call(dir: &Path) -> Result<serde_json::Value, relais_engine::runtime::FlowError> {
    let loaded = relais_engine::cli::check::check_paths(&[dir.to_path_buf()], None);
    assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    let program = relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    )
    .ok()
    .unwrap();
    let out = Runtime::new(program).run_flow("call", Event::new(serde_json::Value::Null)).await?;
    Ok(support::payload(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_request_reaches_an_https_upstream_trusting_its_ca_and_refuses_an_unknown_one() {
    let dir = support::write_files(&[]);
    let pki = Pki::new(&dir);
    std::fs::write(dir.join("flows.yaml"), listener_flows(&pki)).unwrap();
    let upstream = start(&dir).await.unwrap();
    let base = format!("https://localhost:{}", upstream.listeners[0].1.port());

    let trusting = support::write_files(&[(
        "flows.yaml",
        &caller(&base, &format!(", tls: {{ ca: \"{}\" }}", pki.path("ca.crt"))),
    )]);
    assert_eq!(call(&trusting).await.unwrap(), serde_json::json!({ "hello": "over TLS" }));

    let public_roots_only = support::write_files(&[("flows.yaml", &caller(&base, ""))]);
    let error = call(&public_roots_only).await.unwrap_err();
    assert_eq!(error.error_type.to_string(), "HTTP:CONNECTIVITY");
    assert!(error.description.contains("certificate"), "{}", error.description);
    upstream.shutdown(Duration::from_secs(1)).await;
}

/// A minimal HTTPS upstream that requires a client certificate signed by the test CA.
async fn mutual_tls_upstream(pki: &Pki) -> std::net::SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let chain: Vec<CertificateDer<'static>> = relais_engine::tls::certificates(&pki.path("server.crt")).unwrap();
    let key: PrivateKeyDer<'static> = relais_engine::tls::private_key(&pki.path("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = socket.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else { return };
                let mut buf = vec![0; 4096];
                let _ = tls.read(&mut buf).await;
                let body = r#"{"mutual":true}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_the_configured_client_certificate() {
    let dir = support::write_files(&[]);
    let pki = Pki::new(&dir);
    let addr = mutual_tls_upstream(&pki).await;
    let base = format!("https://localhost:{}", addr.port());
    let with_cert = support::write_files(&[(
        "flows.yaml",
        &caller(
            &base,
            &format!(
                ", tls: {{ ca: \"{}\", cert: \"{}\", key: \"{}\" }}",
                pki.path("ca.crt"),
                pki.path("client.crt"),
                pki.path("client.key")
            ),
        ),
    )]);
    assert_eq!(call(&with_cert).await.unwrap(), serde_json::json!({ "mutual": true }));
    let without_cert = support::write_files(&[(
        "flows.yaml",
        &caller(&base, &format!(", tls: {{ ca: \"{}\" }}", pki.path("ca.crt"))),
    )]);
    let error = call(&without_cert).await.unwrap_err();
    assert_eq!(error.error_type.to_string(), "HTTP:CONNECTIVITY", "{}", error.description);
}
