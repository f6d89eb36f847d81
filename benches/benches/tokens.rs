//! What checking a token costs: every WHIP/WHEP request, every connection
//! test and every PATCH/DELETE verifies one (Ed25519 signature, claims,
//! room and role).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use samsyn_signaling::{Role, TokenAuthority};

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let authority = TokenAuthority::load_or_create(dir.path()).expect("signing key");
    let token = authority.issue(
        "k3v9x2m4qa",
        Role::Publisher,
        Duration::from_secs(3600),
        None,
    );
    // Checked once outside the timing: the bench measures an accepted token.
    authority
        .verify(&token, "k3v9x2m4qa", Role::Publisher)
        .expect("the token is valid");
    let mut group = c.benchmark_group("tokens");
    group.bench_function("verify_accepted", |b| {
        b.iter(|| {
            authority
                .verify(black_box(&token), black_box("k3v9x2m4qa"), Role::Publisher)
                .is_ok()
        })
    });
    group.bench_function("verify_wrong_room", |b| {
        b.iter(|| {
            authority
                .verify(black_box(&token), black_box("otherroom1"), Role::Publisher)
                .is_err()
        })
    });
    group.bench_function("issue", |b| {
        b.iter(|| {
            authority.issue(
                black_box("k3v9x2m4qa"),
                Role::Publisher,
                Duration::from_secs(3600),
                None,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
