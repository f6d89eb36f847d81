//! When the served certificate is read again: on SIGHUP, and when its
//! files change.
//!
//! The files are polled (size, modification time, inode and device, through
//! symlinks) every [`POLL_INTERVAL`] rather than watched with inotify.
//! Renewals replace them in several ways: certbot points a symlink in
//! `live/` at new files in `archive/`, Kubernetes swaps a `..data` symlink,
//! other tools write over the files or rename new ones onto them. A `stat`
//! of the configured paths sees all of these; an inotify watch on a path
//! keeps following the old inode, and one on the directory would have to
//! know each layout. A certificate is renewed every few months: a poll that
//! costs two `stat` calls every ten seconds is cheap enough.
//!
//! A change is acted on once the files look the same at two polls in a
//! row, so that a certificate written a moment before its key is read as a
//! pair (within two intervals, 20 s). A change that was acted on, refused
//! or not, is not retried until the files change again: one warning per
//! bad renewal, not one every ten seconds.

use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::ServerTls;
use super::reload::{CertificateFiles, CertificatePair, Reloaded, ServedCertificate};

/// How often the certificate files are looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Reloads the certificate of `tls` on SIGHUP and when its files change,
/// calling `on_served` with each pair that replaces the served one; the
/// future runs until the process ends. A self-signed certificate the
/// gateway made, or no TLS at all, has nothing to reload: SIGHUP is then
/// only logged (and does not end the process, as it would without a
/// handler).
///
/// SIGHUP is handled from this call on, before the future is first polled:
/// a reload asked for as soon as the gateway says it is ready is not lost.
/// Call it inside the Tokio runtime.
pub fn reload_certificate_on_change(
    tls: Option<ServerTls>,
    on_served: impl Fn(&CertificatePair) + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    reload_certificate_every(tls, POLL_INTERVAL, on_served)
}

/// [`reload_certificate_on_change`] polling every `interval`.
pub fn reload_certificate_every(
    tls: Option<ServerTls>,
    interval: Duration,
    on_served: impl Fn(&CertificatePair) + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let hangup = signal(SignalKind::hangup());
    async move {
        match hangup {
            Ok(hangup) => reload_on_signal_or_poll(tls, hangup, interval, on_served).await,
            Err(err) => {
                tracing::warn!("cannot handle SIGHUP ({err}); certificate files are still polled");
                poll_only(tls, interval, on_served).await;
            }
        }
    }
}

async fn reload_on_signal_or_poll(
    tls: Option<ServerTls>,
    mut hangup: Signal,
    interval: Duration,
    on_served: impl Fn(&CertificatePair) + Send + 'static,
) {
    let (files, served) = match tls {
        Some(ServerTls {
            files: Some(files),
            served,
            ..
        }) => (files, served),
        other => {
            let why_not = match other {
                None => "TLS is off",
                Some(_) => {
                    "the certificate is the self-signed one the gateway made, which capture \
                     daemons pin"
                }
            };
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: {why_not}; no certificate to reload");
            }
            return;
        }
    };
    let mut changes = ChangeDetector::new(FileStamps::of(&files));
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(()) = hangup.recv() => {
                changes.acted_on(FileStamps::of(&files));
                reload(&files, &served, "SIGHUP", &on_served);
            }
            _ = ticks.tick() => {
                if changes.settled_change(FileStamps::of(&files)) {
                    reload(&files, &served, "the files changed", &on_served);
                }
            }
        }
    }
}

/// Polling without SIGHUP, where no signal handler could be installed.
async fn poll_only(
    tls: Option<ServerTls>,
    interval: Duration,
    on_served: impl Fn(&CertificatePair) + Send + 'static,
) {
    let Some(ServerTls {
        files: Some(files),
        served,
        ..
    }) = tls
    else {
        return;
    };
    let mut changes = ChangeDetector::new(FileStamps::of(&files));
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        if changes.settled_change(FileStamps::of(&files)) {
            reload(&files, &served, "the files changed", &on_served);
        }
    }
}

/// One reload, said in one log line.
fn reload(
    files: &CertificateFiles,
    served: &ServedCertificate,
    trigger: &str,
    on_served: &impl Fn(&CertificatePair),
) {
    match served.reload_from(files, SystemTime::now()) {
        Ok(Reloaded::Replaced(pair)) => {
            tracing::info!(
                trigger,
                certificate = %files.cert.display(),
                sha256 = %pair.fingerprint,
                expires = %pair.not_after,
                "new TLS certificate served to new connections; open ones keep theirs"
            );
            on_served(&pair);
        }
        Ok(Reloaded::Unchanged) => {
            tracing::info!(
                trigger,
                certificate = %files.cert.display(),
                "the TLS certificate files hold the certificate already served"
            );
        }
        Err(err) => {
            tracing::warn!(
                trigger,
                "TLS certificate not reloaded, the one in use stays: {err}"
            );
        }
    }
}

/// What `stat` says of one file, `None` when it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    device: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
            device: meta.dev(),
        })
    }
}

/// The certificate file's stamp and the key file's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamps([Option<FileStamp>; 2]);

impl FileStamps {
    fn of(files: &CertificateFiles) -> Self {
        Self([FileStamp::of(&files.cert), FileStamp::of(&files.key)])
    }
}

/// Decides, poll by poll, when changed files are ready to read (see the
/// module docs).
#[derive(Debug)]
struct ChangeDetector {
    /// The files as they were when last read.
    read: FileStamps,
    /// The files at the previous poll.
    previous: FileStamps,
}

impl ChangeDetector {
    fn new(now: FileStamps) -> Self {
        Self {
            read: now.clone(),
            previous: now,
        }
    }

    /// Whether the files, as seen now, changed since they were last read
    /// and look as they did at the previous poll.
    fn settled_change(&mut self, now: FileStamps) -> bool {
        let settled = now == self.previous;
        self.previous = now.clone();
        if settled && now != self.read {
            self.read = now;
            true
        } else {
            false
        }
    }

    /// The files were read as they are `now` (on SIGHUP).
    fn acted_on(&mut self, now: FileStamps) {
        self.read = now.clone();
        self.previous = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamps(cert_len: u64, key_len: u64) -> FileStamps {
        let stamp = |len| {
            Some(FileStamp {
                modified: None,
                len,
                inode: 1,
                device: 1,
            })
        };
        FileStamps([stamp(cert_len), stamp(key_len)])
    }

    #[test]
    fn a_change_is_read_once_the_files_stay_still() {
        let mut changes = ChangeDetector::new(stamps(1, 1));
        assert!(!changes.settled_change(stamps(1, 1)), "nothing changed");
        // The certificate is written, then its key before the next poll.
        assert!(!changes.settled_change(stamps(2, 1)));
        assert!(!changes.settled_change(stamps(2, 2)));
        assert!(changes.settled_change(stamps(2, 2)), "still for one poll");
        assert!(!changes.settled_change(stamps(2, 2)), "read once");

        // A file removed in the middle of a renewal is a change as well.
        let gone = FileStamps([None, stamps(2, 2).0[1].clone()]);
        assert!(!changes.settled_change(gone.clone()));
        assert!(changes.settled_change(gone));
    }

    #[test]
    fn files_read_on_sighup_are_not_read_again_by_the_poll() {
        let mut changes = ChangeDetector::new(stamps(1, 1));
        changes.acted_on(stamps(2, 2));
        assert!(!changes.settled_change(stamps(2, 2)));
        assert!(!changes.settled_change(stamps(2, 2)));
    }

    #[tokio::test]
    async fn sighup_leaves_a_self_signed_gateway_running_with_its_certificate() {
        let data = tempfile::tempdir().unwrap();
        let names = ["localhost".to_owned()];
        let tls = ServerTls::load_or_create(data.path(), None, &names).unwrap();
        let (served, fingerprint) = (tls.served.clone(), tls.fingerprint);
        let reloads = tokio::spawn(reload_certificate_on_change(Some(tls), |_| {
            panic!("a self-signed certificate is never replaced")
        }));
        // Without the handler the default action would end this process.
        // SAFETY: raise(3) with a valid signal number.
        #[allow(unsafe_code, reason = "the test sends itself the real signal")]
        let raised = unsafe { libc::raise(libc::SIGHUP) };
        assert_eq!(raised, 0);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!reloads.is_finished());
        assert_eq!(served.current().fingerprint, fingerprint);
    }

    #[tokio::test]
    async fn new_files_are_served_within_two_polls() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let write = |made: &rcgen::CertifiedKey<rcgen::KeyPair>| {
            std::fs::write(&cert, made.cert.pem()).unwrap();
            std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        let first = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        write(&first);
        let tls = ServerTls::load_or_create(dir.path(), Some((&cert, &key)), &[]).unwrap();
        let served = tls.served.clone();
        let (told, mut replaced) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(reload_certificate_every(
            Some(tls),
            Duration::from_millis(50),
            move |pair| {
                let _ = told.send(pair.fingerprint);
            },
        ));
        tokio::time::sleep(Duration::from_millis(120)).await;

        let second = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        write(&second);
        let fingerprint = tokio::time::timeout(Duration::from_secs(5), replaced.recv())
            .await
            .expect("the change is seen within a few polls")
            .unwrap();
        let expected = super::super::Fingerprint::of(second.cert.der());
        assert_eq!(fingerprint, expected);
        assert_eq!(served.current().fingerprint, expected);
    }
}
