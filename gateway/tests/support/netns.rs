//! Runs a media test inside a private network namespace.
//!
//! libnice (in webrtcbin) skips loopback and Chromium gathers nothing without
//! a default route, while test traffic must never touch the machine's real
//! interfaces. So each media test re-executes itself inside a namespace it
//! creates: `lo` plus a veth pair on 10.213.0.0/24 and a default route over
//! it. Nothing can leave; every stack gathers usable candidates unmodified.
//!
//! Network-fault tests use [`isolate_with_camera_link`]: the same namespace for
//! the gateway and its viewers, plus a second namespace for the nurse's
//! laptop, joined by an emulated path ([`super::link`]) the test can slow
//! down, make lossy or cut.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The gateway's media address inside the namespace.
pub const GATEWAY_IP: &str = "10.213.0.1";
/// The clients' address inside the namespace.
pub const CLIENT_IP: &str = "10.213.0.2";

const CHILD_MARKER: &str = "SAMSYN_NETNS_TEST";
/// Tells the re-executed test which namespace is the camera's.
const CAMERA_NAMESPACE: &str = "SAMSYN_NETNS_CAMERA";

/// Call first in a media test: `if !netns::isolate("name") { return; }`.
///
/// Outside the namespace it creates one, runs the named test again inside it
/// (output passes through), asserts that run passed, removes the namespace
/// and returns `false`. Inside, it returns `true`: go on with the test.
pub fn isolate(test_name: &str) -> bool {
    if std::env::var(CHILD_MARKER).as_deref() == Ok(test_name) {
        return true;
    }
    let namespace = Namespace::create();
    run_inside(&namespace, test_name, &[]);
    false
}

/// Call first in a network-fault test:
/// `let Some(link) = netns::isolate_with_camera_link("name") else { return };`
///
/// Like [`isolate`], plus a second namespace for the capture daemon, joined
/// to the test's namespace by an emulated path (see [`super::link`]): the
/// gateway listens on [`super::link::GATEWAY_LINK_IP`] too, the daemon runs
/// with [`super::link::CameraLink::camera_command`] on
/// [`super::link::CAMERA_IP`]. Outside it returns `None` after the run; where
/// namespaces or TUN devices cannot be made (not root, no /dev/net/tun) it
/// says SKIPPED and why, and returns `None` without running the test.
pub fn isolate_with_camera_link(test_name: &str) -> Option<super::link::CameraLink> {
    if std::env::var(CHILD_MARKER).as_deref() == Ok(test_name) {
        let camera =
            std::env::var(CAMERA_NAMESPACE).expect("the harness names the camera's namespace");
        return Some(super::link::CameraLink::create(&camera));
    }
    if let Some(why) = cannot_emulate_a_path() {
        eprintln!("SKIPPED {test_name}: {why}");
        println!("SKIPPED {test_name}: {why}");
        return None;
    }
    let namespace = Namespace::create();
    let camera = Namespace::bare("c");
    run_inside(&namespace, test_name, &[(CAMERA_NAMESPACE, &camera.name)]);
    None
}

/// Why this machine cannot run a network-fault test, if it cannot.
fn cannot_emulate_a_path() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(
            "network-fault tests create network namespaces and TUN devices, which needs \
             root; run them as root, as CI does"
                .into(),
        );
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing (kernel without CONFIG_TUN)".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("`ip` is missing; install iproute2".into());
    }
    None
}

/// Runs `test_name` again inside `namespace` and asserts that run passed.
fn run_inside(namespace: &Namespace, test_name: &str, env: &[(&str, &str)]) {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let status = Command::new("ip")
        .args(["netns", "exec", &namespace.name])
        .arg(exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_MARKER, test_name)
        .envs(env.iter().copied())
        .status()
        .expect("ip netns exec runs");
    assert!(
        status.success(),
        "{test_name} failed inside network namespace {} ({status})",
        namespace.name
    );
}

struct Namespace {
    name: String,
}

impl Namespace {
    /// An empty namespace (only `lo`, down), removed on drop; `kind` goes
    /// into its name.
    fn bare(kind: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "samsyn-{kind}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let namespace = Self { name };
        namespace.ip(&["netns", "add", &namespace.name]);
        namespace
    }

    fn create() -> Self {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "media tests create a private network namespace and need root and iproute2 \
             (`ip netns`, veth); run them as root, as CI does"
        );
        let namespace = Self::bare("t");
        for args in [
            "link set lo up",
            "link add veth-gw type veth peer name veth-cl",
            &format!("addr add {GATEWAY_IP}/24 dev veth-gw"),
            &format!("addr add {CLIENT_IP}/24 dev veth-cl"),
            "link set veth-gw up",
            "link set veth-cl up",
            "route add default dev veth-gw",
        ] {
            let mut full = vec!["-n", namespace.name.as_str()];
            full.extend(args.split(' '));
            namespace.ip(&full);
        }
        // libnice sends out of a chosen interface (IP_UNICAST_IF), so a
        // packet between the two local addresses crosses the veth pair and
        // arrives with a local source address: accept it.
        let mut sysctl = vec![
            "netns",
            "exec",
            namespace.name.as_str(),
            "sysctl",
            "-q",
            "-w",
        ];
        let settings: Vec<String> = ["all", "default", "veth-gw", "veth-cl"]
            .iter()
            .flat_map(|dev| {
                [
                    format!("net.ipv4.conf.{dev}.accept_local=1"),
                    format!("net.ipv4.conf.{dev}.rp_filter=0"),
                ]
            })
            .collect();
        sysctl.extend(settings.iter().map(String::as_str));
        namespace.ip(&sysctl);
        namespace
    }

    fn ip(&self, args: &[&str]) {
        let output = Command::new("ip")
            .args(args)
            .output()
            .unwrap_or_else(|err| {
                panic!("cannot run `ip` ({err}): media tests need iproute2 and root")
            });
        assert!(
            output.status.success(),
            "`ip {}` failed: {}; media tests need root and iproute2",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}
