//! Tokens: issue and verify, forgeries, expiry, and the key file.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::sign_with_key_file;
use ring::signature::{Ed25519KeyPair, KeyPair};
use samsyn_signaling::{AuthError, Grant, KeyError, Role, TokenAuthority, unix_now};

const ROOM: &str = "k3xq7mpa2d";
const TTL: Duration = Duration::from_secs(3600);

fn authority() -> (tempfile::TempDir, TokenAuthority) {
    let dir = tempfile::tempdir().unwrap();
    let authority = TokenAuthority::load_or_create(dir.path()).unwrap();
    (dir, authority)
}

/// A token for ROOM in `role`, valid for TTL.
fn issue(authority: &TokenAuthority, role: Role, name: Option<&str>) -> String {
    authority.issue(Grant {
        room: Some(ROOM),
        role,
        expires_at: unix_now() + TTL.as_secs(),
        name,
    })
}

fn b64(json: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

#[test]
fn issue_and_verify_round_trip() {
    let (_dir, authority) = authority();
    let before = unix_now();
    let token = issue(&authority, Role::Publisher, Some("Nurse Berit"));

    let claims = authority
        .verify(&token, Some(ROOM), &[Role::Publisher])
        .unwrap();

    assert_eq!(claims.room.as_deref(), Some(ROOM));
    assert_eq!(claims.role, Role::Publisher);
    assert_eq!(claims.name.as_deref(), Some("Nurse Berit"));
    assert!(claims.iat >= before && claims.iat <= unix_now());
    assert_eq!(claims.exp - claims.iat, TTL.as_secs());
    assert!(claims.jti.len() >= 16);
    // The header names EdDSA; the payload carries exactly the claims.
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");

    let other = issue(&authority, Role::Publisher, None);
    let other_claims = authority
        .verify(&other, Some(ROOM), &[Role::Publisher])
        .unwrap();
    assert_ne!(other_claims.jti, claims.jti, "every token has its own id");
    assert_eq!(other_claims.name, None);
}

#[test]
fn debug_output_hides_the_name() {
    let (_dir, authority) = authority();
    let token = issue(&authority, Role::Specialist, Some("Dr. Hansen"));
    let claims = authority
        .verify(&token, Some(ROOM), &[Role::Specialist])
        .unwrap();
    assert!(!format!("{claims:?}").contains("Hansen"));
}

#[test]
fn tampered_signature_is_invalid() {
    let (_dir, authority) = authority();
    let token = issue(&authority, Role::Publisher, None);
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 0x01;
    let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes));

    assert_eq!(
        authority.verify(&tampered, Some(ROOM), &[Role::Publisher]),
        Err(AuthError::Invalid)
    );
}

#[test]
fn tampered_payload_is_invalid() {
    let (_dir, authority) = authority();
    let token = issue(&authority, Role::Specialist, None);
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = "publisher".into();
    let promoted = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);

    assert_eq!(
        authority.verify(&promoted, Some(ROOM), &[Role::Publisher]),
        Err(AuthError::Invalid)
    );
}

#[test]
fn alg_none_is_invalid() {
    let (_dir, authority) = authority();
    let claims = serde_json::json!({
        "room": ROOM, "role": "publisher", "iat": unix_now(), "exp": unix_now() + 600, "jti": "x",
    });
    let header = serde_json::json!({"alg": "none", "typ": "JWT"});
    for unsigned in [
        format!("{}.{}.", b64(&header), b64(&claims)),
        format!("{}.{}", b64(&header), b64(&claims)),
    ] {
        assert_eq!(
            authority.verify(&unsigned, Some(ROOM), &[Role::Publisher]),
            Err(AuthError::Invalid)
        );
    }
}

#[test]
fn hmac_with_the_public_key_is_invalid() {
    // The classic algorithm confusion: sign HS256 with the (public) verify key.
    let (dir, authority) = authority();
    let pkcs8 = std::fs::read(dir.path().join("keys/token-signing.pk8")).unwrap();
    let public = Ed25519KeyPair::from_pkcs8(&pkcs8)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let claims = serde_json::json!({
        "room": ROOM, "role": "publisher", "iat": unix_now(), "exp": unix_now() + 600, "jti": "x",
    });
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();

    assert_eq!(
        authority.verify(&forged, Some(ROOM), &[Role::Publisher]),
        Err(AuthError::Invalid)
    );
}

#[test]
fn token_of_another_gateway_is_invalid() {
    let (_dir, ours) = authority();
    let (_other_dir, theirs) = authority();
    let token = issue(&theirs, Role::Publisher, None);
    assert_eq!(
        ours.verify(&token, Some(ROOM), &[Role::Publisher]),
        Err(AuthError::Invalid)
    );
}

#[test]
fn garbage_is_invalid() {
    let (_dir, authority) = authority();
    for garbage in [
        "",
        "garbage",
        "a.b.c",
        "...",
        "eyJhbGciOiJFZERTQSJ9.e30.AAAA",
    ] {
        assert_eq!(
            authority.verify(garbage, Some(ROOM), &[Role::Specialist]),
            Err(AuthError::Invalid),
            "{garbage:?}"
        );
    }
}

#[test]
fn expired_token_is_expired() {
    let (dir, authority) = authority();
    let an_hour_ago = unix_now() - 3600;
    let claims = serde_json::json!({
        "room": ROOM, "role": "specialist", "iat": an_hour_ago - 60, "exp": an_hour_ago, "jti": "x",
    });
    let expired = sign_with_key_file(dir.path(), &claims);

    assert_eq!(
        authority.verify(&expired, Some(ROOM), &[Role::Specialist]),
        Err(AuthError::Expired)
    );
}

#[test]
fn expired_forgery_is_invalid_not_expired() {
    // The signature is checked before the expiry: a forger learns nothing.
    let (_dir, authority) = authority();
    let (other_dir, _other) = self::authority();
    let an_hour_ago = unix_now() - 3600;
    let claims = serde_json::json!({
        "room": ROOM, "role": "specialist", "iat": an_hour_ago - 60, "exp": an_hour_ago, "jti": "x",
    });
    let forged = sign_with_key_file(other_dir.path(), &claims);

    assert_eq!(
        authority.verify(&forged, Some(ROOM), &[Role::Specialist]),
        Err(AuthError::Invalid)
    );
}

#[test]
fn token_without_expiry_or_with_unknown_role_or_misplaced_room_is_invalid() {
    let (dir, authority) = authority();
    let no_exp =
        serde_json::json!({"room": ROOM, "role": "specialist", "iat": unix_now(), "jti": "x"});
    // Admin tokens hold no room; one that does was not made by this gateway.
    let admin = serde_json::json!({
        "room": ROOM, "role": "admin", "iat": unix_now(), "exp": unix_now() + 600, "jti": "x",
    });
    let roomless = serde_json::json!({
        "role": "specialist", "iat": unix_now(), "exp": unix_now() + 600, "jti": "x",
    });
    let unknown_role = serde_json::json!({
        "room": ROOM, "role": "viewer", "iat": unix_now(), "exp": unix_now() + 600, "jti": "x",
    });
    for claims in [no_exp, admin, roomless, unknown_role] {
        let token = sign_with_key_file(dir.path(), &claims);
        assert_eq!(
            authority.verify(&token, Some(ROOM), &[Role::Specialist]),
            Err(AuthError::Invalid),
            "{claims}"
        );
    }
}

#[test]
fn wrong_room_and_wrong_role() {
    let (_dir, authority) = authority();
    let viewer = issue(&authority, Role::Specialist, None);

    assert_eq!(
        authority.verify(&viewer, Some("otherroom1"), &[Role::Specialist]),
        Err(AuthError::WrongRoom)
    );
    assert_eq!(
        authority.verify(&viewer, Some(ROOM), &[Role::Publisher]),
        Err(AuthError::WrongRole {
            presented: Role::Specialist,
            allowed: &[Role::Publisher]
        })
    );
}

#[test]
fn key_file_is_private_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let first = TokenAuthority::load_or_create(dir.path()).unwrap();
    let key_path = dir.path().join("keys/token-signing.pk8");
    assert_eq!(first.key_path(), key_path);

    let file_mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    let dir_mode = std::fs::metadata(dir.path().join("keys"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(file_mode, 0o600);
    assert_eq!(dir_mode, 0o700);
    let key_bytes = std::fs::read(&key_path).unwrap();
    assert!(
        Ed25519KeyPair::from_pkcs8(&key_bytes).is_ok(),
        "PKCS#8 Ed25519"
    );

    let token = issue(&first, Role::Publisher, None);
    drop(first);
    let second = TokenAuthority::load_or_create(dir.path()).unwrap();
    assert!(
        second
            .verify(&token, Some(ROOM), &[Role::Publisher])
            .is_ok(),
        "tokens survive a restart"
    );
    assert_eq!(
        std::fs::read(&key_path).unwrap(),
        key_bytes,
        "the key was not replaced"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left behind");
}

#[test]
fn concurrent_first_use_agrees_on_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let authorities: Vec<TokenAuthority> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| TokenAuthority::load_or_create(dir.path()).unwrap()))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let token = issue(&authorities[0], Role::Specialist, None);
    for authority in &authorities {
        assert!(
            authority
                .verify(&token, Some(ROOM), &[Role::Specialist])
                .is_ok()
        );
    }
}

#[test]
fn readable_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(TokenAuthority::load_or_create(dir.path()).unwrap());
    let key_path = dir.path().join("keys/token-signing.pk8");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let error = TokenAuthority::load_or_create(dir.path()).unwrap_err();
    assert!(
        matches!(error, KeyError::Permissions { mode: 0o644, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("chmod 600"), "{error}");
}

#[test]
fn corrupt_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let key_path = dir.path().join("keys/token-signing.pk8");
    std::fs::write(&key_path, b"not a key").unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();

    let error = TokenAuthority::load_or_create(dir.path()).unwrap_err();
    assert!(matches!(error, KeyError::Corrupt { .. }), "{error:?}");
    assert_eq!(
        std::fs::read(&key_path).unwrap(),
        b"not a key",
        "left for inspection"
    );
}

#[test]
fn admin_tokens_hold_no_room_and_pass_only_where_admins_may() {
    let (_dir, authority) = authority();
    let admin = authority.issue(Grant {
        room: None,
        role: Role::Admin,
        expires_at: unix_now() + 60,
        name: None,
    });
    let claims = authority.verify(&admin, None, &[Role::Admin]).unwrap();
    assert_eq!(claims.room, None);
    assert!(
        authority
            .verify(&admin, Some(ROOM), &[Role::Specialist, Role::Admin])
            .is_ok()
    );
    assert_eq!(
        authority.verify(&admin, Some(ROOM), &[Role::Specialist, Role::Observer]),
        Err(AuthError::WrongRole {
            presented: Role::Admin,
            allowed: &[Role::Specialist, Role::Observer]
        })
    );
    // A room token is no admin token, even on a route without a room.
    let specialist = issue(&authority, Role::Specialist, None);
    assert!(matches!(
        authority.verify(&specialist, None, &[Role::Admin]),
        Err(AuthError::WrongRole { .. })
    ));
}

#[test]
fn a_configured_pem_key_file_signs_and_verifies() {
    use rustls_pki_types::pem::PemObject;
    let dir = tempfile::tempdir().unwrap();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let text = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
    );
    assert!(rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(text.as_bytes()).is_ok());
    let path = dir.path().join("signing.pem");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

    let authority = TokenAuthority::load(&path).unwrap();
    let token = issue(&authority, Role::Observer, None);
    assert!(
        authority
            .verify(&token, Some(ROOM), &[Role::Observer])
            .is_ok()
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(matches!(
        TokenAuthority::load(&path),
        Err(KeyError::Permissions { .. })
    ));
}
