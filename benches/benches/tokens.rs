//! What checking a token costs: every WHIP/WHEP request, every connection
//! test and every PATCH/DELETE verifies one (Ed25519 signature, claims,
//! room and role).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use samsyn_signaling::{Grant, Role, TokenAuthority, unix_now};

const ROOM: &str = "k3v9x2m4qa";
const PUBLISHER: &[Role] = &[Role::Publisher];

fn grant() -> Grant<'static> {
    Grant {
        room: Some(ROOM),
        role: Role::Publisher,
        expires_at: unix_now() + 3600,
        name: None,
    }
}

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let authority = TokenAuthority::load_or_create(dir.path()).expect("signing key");
    let token = authority.issue(grant());
    // Checked once outside the timing: the bench measures an accepted token.
    authority
        .verify(&token, Some(ROOM), PUBLISHER)
        .expect("the token is valid");
    let mut group = c.benchmark_group("tokens");
    group.bench_function("verify_accepted", |b| {
        b.iter(|| {
            authority
                .verify(black_box(&token), black_box(Some(ROOM)), PUBLISHER)
                .is_ok()
        })
    });
    group.bench_function("verify_wrong_room", |b| {
        b.iter(|| {
            authority
                .verify(black_box(&token), black_box(Some("otherroom1")), PUBLISHER)
                .is_err()
        })
    });
    group.bench_function("issue", |b| b.iter(|| authority.issue(black_box(grant()))));
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
