//! Runs a media test inside a private network namespace.
//!
//! libnice (in webrtcbin) skips loopback and Chromium gathers nothing without
//! a default route, while test traffic must never touch the machine's real
//! interfaces. So each media test re-executes itself inside a namespace it
//! creates: `lo` plus a veth pair on 10.213.0.0/24 and a default route over
//! it. Nothing can leave; every stack gathers usable candidates unmodified.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The gateway's media address inside the namespace.
pub const GATEWAY_IP: &str = "10.213.0.1";
/// The clients' address inside the namespace.
pub const CLIENT_IP: &str = "10.213.0.2";

const CHILD_MARKER: &str = "SAMSYN_NETNS_TEST";

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
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let status = Command::new("ip")
        .args(["netns", "exec", &namespace.name])
        .arg(exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_MARKER, test_name)
        .status()
        .expect("ip netns exec runs");
    assert!(
        status.success(),
        "{test_name} failed inside network namespace {} ({status})",
        namespace.name
    );
    false
}

struct Namespace {
    name: String,
}

impl Namespace {
    fn create() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "media tests create a private network namespace and need root and iproute2 \
             (`ip netns`, veth); run them as root, as CI does"
        );
        let name = format!(
            "samsyn-t{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let namespace = Self { name };
        namespace.ip(&["netns", "add", &namespace.name]);
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
