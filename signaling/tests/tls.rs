//! TLS on the listener: the generated certificate serves TLS 1.3 and 1.2,
//! answers carry HSTS, and plain HTTP gets no answer on the TLS port.

mod common;

use std::sync::Arc;

use common::*;
use reqwest::StatusCode;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use samsyn_signaling::Role;

/// A reqwest client that trusts only the gateway's certificate and speaks
/// only `version`.
fn client_speaking(
    gw: &TestGateway,
    version: &'static rustls::SupportedProtocolVersion,
) -> reqwest::Client {
    let pem = std::fs::read(gw.data_dir.path().join("tls/cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&pem).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_generated_certificate_serves_tls_1_3_and_1_2_with_hsts() {
    let gw = TestGateway::start_tls().await;
    assert!(gw.base.starts_with("https://127.0.0.1:"));
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let response = client_speaking(&gw, version)
            .get(gw.url("/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{version:?}: {e:?}"));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000"
        );
    }

    // WHIP works over it, as any client would use it.
    let token = gw.token("ward7abc23", Role::Publisher);
    let response = gw.offer("/whip/ward7abc23", &token, OFFER).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn clients_that_do_not_trust_the_certificate_are_refused() {
    let gw = TestGateway::start_tls().await;
    // The system's roots do not know a self-signed certificate.
    let error = reqwest::Client::new()
        .get(gw.url("/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = gw.url("/healthz").replacen("https://", "http://", 1);
    let answer = reqwest::Client::new().get(plain).send().await;
    assert!(
        answer.as_ref().map_or(true, |r| !r.status().is_success()),
        "{answer:?}"
    );
}

#[tokio::test]
async fn plain_http_answers_carry_no_hsts() {
    let gw = TestGateway::start().await;
    let response = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}
