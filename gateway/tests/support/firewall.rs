//! A restrictive network inside the test's namespace, with nftables: what a
//! municipal or hospital firewall drops, dropped here on purpose.
//!
//! Rules sit in the output hook of one table of the test's own namespace, so
//! they see traffic between the namespace's addresses too (it crosses `lo`)
//! and vanish with the namespace.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// An nftables table of drop rules; removed when dropped.
pub struct Firewall {
    table: String,
}

impl Firewall {
    /// Drops every UDP datagram to or from `port` (the gateway's media
    /// port), from any address of the namespace: a network that lets only
    /// TCP through to the gateway.
    pub fn drop_udp_port(port: u16) -> Self {
        Self::with_rules(&[
            format!("udp dport {port} counter drop"),
            format!("udp sport {port} counter drop"),
        ])
    }

    /// Drops everything between `a` and `b`, both ways: a path that broke.
    pub fn drop_all_between(a: &str, b: &str) -> Self {
        Self::with_rules(&[
            format!("ip saddr {a} ip daddr {b} counter drop"),
            format!("ip saddr {b} ip daddr {a} counter drop"),
        ])
    }

    /// A table with `rules` in its output chain.
    pub fn with_rules(rules: &[String]) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let table = format!("samsyn_test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        nft(&format!("add table inet {table}"));
        nft(&format!(
            "add chain inet {table} out {{ type filter hook output priority 0 ; policy accept ; }}"
        ));
        for rule in rules {
            nft(&format!("add rule inet {table} out {rule}"));
        }
        Self { table }
    }

    /// Packets the rules have dropped so far, so a test can show that its
    /// network really was restrictive.
    pub fn dropped_packets(&self) -> u64 {
        let output = Command::new("nft")
            .args(["list", "table", "inet", &self.table])
            .output()
            .expect("nft runs");
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|pair| pair[0] == "packets")
            .filter_map(|pair| pair[1].parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .status();
    }
}

fn nft(command: &str) {
    let output = Command::new("nft")
        .args(command.split(' ').filter(|word| !word.is_empty()))
        .output()
        .expect("nft runs (Debian's nftables; scripts/install-deps installs it)");
    assert!(
        output.status.success(),
        "nft {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
