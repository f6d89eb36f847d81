//! Runs a media test inside a private network namespace.
//!
//! libnice (in webrtcbin) skips loopback and Chromium gathers nothing without
//! a default route, while test traffic must never touch the machine's real
//! interfaces. So each media test re-executes itself inside a namespace it
//! creates: `lo` plus a veth pair on 10.213.0.0/24 and a default route over
//! it. Nothing can leave; every stack gathers usable candidates unmodified.
//!
//! Network-fault tests add a second namespace (the nurse's laptop, usually),
//! joined to the first by an emulated path the test can slow down, make lossy
//! or cut: see `link::isolate_with_link`.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The gateway's media address inside the namespace.
pub const GATEWAY_IP: &str = "10.213.0.1";
/// The clients' address inside the namespace.
pub const CLIENT_IP: &str = "10.213.0.2";
/// The gateway's address in an IPv6-only namespace ([`isolate_ipv6_only`]):
/// unique local (fd00::/8), as a hospital network without global IPv6 has.
pub const GATEWAY_IP6: &str = "fd00:213::1";
/// The clients' address in an IPv6-only namespace.
pub const CLIENT_IP6: &str = "fd00:213::2";

const CHILD_MARKER: &str = "SAMSYN_NETNS_TEST";
/// Tells the re-executed test which namespace is the far side of its link.
const FAR_NAMESPACE: &str = "SAMSYN_NETNS_FAR";

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

/// Like [`isolate`], in a namespace whose network is IPv6 only: the veth
/// pair has [`GATEWAY_IP6`] and [`CLIENT_IP6`] (/64) and no IPv4 address,
/// and the default route is IPv6 (Chromium gathers nothing without one).
/// `lo` still has 127.0.0.1 and ::1, as every machine's has; a test of
/// IPv6 must not use them.
pub fn isolate_ipv6_only(test_name: &str) -> bool {
    if std::env::var(CHILD_MARKER).as_deref() == Ok(test_name) {
        return true;
    }
    let namespace = Namespace::create_ipv6_only();
    run_inside(&namespace, test_name, &[]);
    false
}

/// Like [`isolate`], plus a second, empty namespace for the test to fill
/// (`link::isolate_with_link` joins the two).
///
/// Inside the re-executed test: `Ok(Some(name of the second namespace))`.
/// Outside, after the run passed: `Ok(None)`. Where namespaces or TUN devices
/// cannot be made: `Err(why)`, without running the test.
pub fn isolate_with_second_namespace(test_name: &str) -> Result<Option<String>, String> {
    if std::env::var(CHILD_MARKER).as_deref() == Ok(test_name) {
        let far = std::env::var(FAR_NAMESPACE).expect("the harness names the far namespace");
        return Ok(Some(far));
    }
    if let Some(why) = cannot_emulate_a_path() {
        return Err(why);
    }
    let namespace = Namespace::create();
    let far = Namespace::bare("f");
    run_inside(&namespace, test_name, &[(FAR_NAMESPACE, &far.name)]);
    Ok(None)
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
        ip(&["-n", &namespace.name, "link", "set", "lo", "up"]);
        add_local_pair(
            &namespace.name,
            ("veth-gw", GATEWAY_IP),
            ("veth-cl", CLIENT_IP),
        );
        ip(&[
            "-n",
            &namespace.name,
            "route",
            "add",
            "default",
            "dev",
            "veth-gw",
        ]);
        namespace
    }
    fn ip(&self, args: &[&str]) {
        ip(args);
    }

    /// [`Namespace::create`] with IPv6 only on the veth pair: see
    /// [`isolate_ipv6_only`].
    fn create_ipv6_only() -> Self {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "media tests create a private network namespace and need root and iproute2 \
             (`ip netns`, veth); run them as root, as CI does"
        );
        let namespace = Self::bare("v6-");
        let name = namespace.name.as_str();
        // IPv6 on (a namespace starts with the kernel's defaults, which a
        // machine may have changed for its own).
        ip(&[
            "netns",
            "exec",
            name,
            "sysctl",
            "-q",
            "-w",
            "net.ipv6.conf.all.disable_ipv6=0",
            "net.ipv6.conf.default.disable_ipv6=0",
        ]);
        let gateway = format!("{GATEWAY_IP6}/64");
        let client = format!("{CLIENT_IP6}/64");
        for args in [
            ["link", "set", "lo", "up"].as_slice(),
            &[
                "link", "add", "veth-gw", "type", "veth", "peer", "name", "veth-cl",
            ],
            // `nodad`: usable at once, not after duplicate address detection.
            &["-6", "addr", "add", &gateway, "dev", "veth-gw", "nodad"],
            &["-6", "addr", "add", &client, "dev", "veth-cl", "nodad"],
            &["link", "set", "veth-gw", "up"],
            &["link", "set", "veth-cl", "up"],
            &["-6", "route", "add", "default", "dev", "veth-gw"],
        ] {
            let mut full = vec!["-n", name];
            full.extend_from_slice(args);
            ip(&full);
        }
        namespace
    }
}

/// Adds a veth pair to `namespace` with an address (/24) on each end: two
/// local addresses that talk over a real link, as libnice needs.
pub fn add_local_pair(namespace: &str, (a, a_ip): (&str, &str), (b, b_ip): (&str, &str)) {
    let a_address = format!("{a_ip}/24");
    let b_address = format!("{b_ip}/24");
    for args in [
        ["link", "add", a, "type", "veth", "peer", "name", b].as_slice(),
        &["addr", "add", &a_address, "dev", a],
        &["addr", "add", &b_address, "dev", b],
        &["link", "set", a, "up"],
        &["link", "set", b, "up"],
    ] {
        let mut full = vec!["-n", namespace];
        full.extend_from_slice(args);
        ip(&full);
    }
    // libnice sends out of a chosen interface (IP_UNICAST_IF), so a packet
    // between the two local addresses crosses the veth pair and arrives with
    // a local source address: accept it.
    let mut sysctl = vec!["netns", "exec", namespace, "sysctl", "-q", "-w"];
    let settings: Vec<String> = ["all", "default", a, b]
        .iter()
        .flat_map(|dev| {
            [
                format!("net.ipv4.conf.{dev}.accept_local=1"),
                format!("net.ipv4.conf.{dev}.rp_filter=0"),
            ]
        })
        .collect();
    sysctl.extend(settings.iter().map(String::as_str));
    ip(&sysctl);
}

/// Runs `ip args…`, failing the test with its error output.
pub fn ip(args: &[&str]) {
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

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}
