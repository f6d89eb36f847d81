//! The nurse's laptop gets a new network address in the middle of a
//! stream (a new Wi-Fi access point, a 4G handover): the address the
//! session runs on disappears and another appears. The capture daemon runs
//! in the test's namespace, ICE pinned to the old and the new address; a
//! WHEP viewer decodes beside it. The test measures the viewer's longest
//! wait between decoded frames across the change, and where the time went
//! (from the daemon's log lines). Needs root.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use samsyn_testkit::whep_viewer::WhepViewer;
use support::netns::{self, GATEWAY_IP};
use support::{Gateway, Invite, runtime, start_viewer};

/// The client side of the namespace's veth pair.
const INTERFACE: &str = "veth-cl";
/// The laptop's address before the change, and after it.
const OLD_IP: &str = "10.213.0.3";
const NEW_IP: &str = "10.213.0.4";
/// The viewer's longest wait between frames that the change may cause.
const GAP_LIMIT: Duration = Duration::from_secs(2);

/// The capture daemon with its log (stderr) read on a thread, each line
/// stamped with when it arrived; stopped on drop.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
}

impl Daemon {
    fn start(gateway: &Gateway, invite: &Invite) -> Self {
        let mut stream = support::stream_args("test", 640, 360, OLD_IP);
        stream.extend(["--ice-address".to_owned(), NEW_IP.to_owned()]);
        let mut child = Command::new(support::capture_binary())
            .args(["--gateway", &gateway.base_url, "--room", &invite.room])
            .args(["--token", &invite.publisher_token])
            .args(stream)
            // Debug for the steps of a new session (relays asked, offer
            // gathered, answer received).
            .env(
                "SAMSYN_LOG",
                "warn,samsyn_capture=info,samsyn_capture::publish=debug,\
                 samsyn_capture::webrtc::negotiate=debug",
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .spawn()
            .expect("samsyn-capture starts");
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                // The offer and answer are logged whole; their SDP lines
                // only clutter the output.
                if line.len() > 2 && line.as_bytes()[1] == b'=' {
                    continue;
                }
                eprintln!("daemon: {line}");
                if sender.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Collects the lines that have arrived so far.
    fn collect(&mut self) {
        self.seen.extend(self.lines.try_iter());
    }

    /// The first line after `after` containing each of `texts`: when it
    /// arrived and the line.
    fn first_after(&self, after: Instant, texts: &[&str]) -> Option<&(Instant, String)> {
        self.seen
            .iter()
            .find(|(at, line)| *at >= after && texts.iter().all(|text| line.contains(text)))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        support::stop(&mut self.child);
    }
}

fn frames(viewer: &WhepViewer) -> u64 {
    viewer.report().map_or(0, |r| r.frames)
}

/// The longest time between two decoded frames in a watch: how long, and
/// when the frame that ended it arrived.
#[derive(Debug, Clone, Copy)]
struct Gap {
    length: Duration,
    ended: Instant,
}

/// Watches the viewer for `duration`, running `change` once `change_after`
/// has passed; returns the longest gap between decoded frames and when the
/// change took effect (as `change` says).
async fn watch_across(
    viewer: &WhepViewer,
    duration: Duration,
    change_after: Duration,
    change: impl FnOnce() -> Instant,
) -> (Gap, Instant) {
    let start = Instant::now();
    let mut change = Some(change);
    let mut changed_at = start;
    let (mut count, mut last_frame) = (frames(viewer), Instant::now());
    let mut longest = Gap {
        length: Duration::ZERO,
        ended: last_frame,
    };
    while start.elapsed() < duration {
        if start.elapsed() >= change_after
            && let Some(change) = change.take()
        {
            changed_at = change();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = frames(viewer);
        if now != count {
            let at = Instant::now();
            if at - last_frame > longest.length {
                longest = Gap {
                    length: at - last_frame,
                    ended: at,
                };
            }
            (count, last_frame) = (now, at);
        }
    }
    if last_frame.elapsed() > longest.length {
        longest = Gap {
            length: last_frame.elapsed(),
            ended: Instant::now(),
        };
    }
    (longest, changed_at)
}

/// Milliseconds from `from` to `to`, negative when `to` is earlier.
fn ms(from: Instant, to: Instant) -> i64 {
    if to >= from {
        (to - from).as_millis() as i64
    } else {
        -((from - to).as_millis() as i64)
    }
}

#[test]
fn a_new_address_mid_stream_costs_the_viewer_under_two_seconds() {
    const NAME: &str = "a_new_address_mid_stream_costs_the_viewer_under_two_seconds";
    if !netns::isolate(NAME) {
        return;
    }
    gstreamer::init().unwrap();
    netns::ip(&["addr", "add", &format!("{OLD_IP}/24"), "dev", INTERFACE]);
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    let mut daemon = Daemon::start(&gateway, &invite);

    let (gap, changed_at) = runtime().block_on(async {
        let mut viewer = start_viewer(&invite).await;
        viewer
            .wait_frames(30, Duration::from_secs(20))
            .await
            .expect("frames before the change");
        let watched = watch_across(
            &viewer,
            Duration::from_secs(10),
            Duration::from_secs(2),
            || {
                // The new address first, then the old one goes: as when a
                // laptop's DHCP lease moves it to another address.
                netns::ip(&["addr", "add", &format!("{NEW_IP}/24"), "dev", INTERFACE]);
                let removing = Instant::now();
                netns::ip(&["addr", "del", &format!("{OLD_IP}/24"), "dev", INTERFACE]);
                removing
            },
        )
        .await;
        viewer.stop().await.ok();
        watched
    });
    daemon.collect();

    let step = |texts: &[&str]| daemon.first_after(changed_at, texts).map(|(at, _)| *at);
    let noticed = step(&["went away"]);
    let given_up =
        step(&["network address changed"]).or_else(|| step(&["connection to the gateway lost"]));
    let relays = step(&["relays announced"]).or_else(|| step(&["announced no relays"]));
    let gathered = step(&["ICE gathering complete"]);
    let answered = step(&["remote answer"]);
    // The publisher's session, not talk-back's.
    let ice_connected = step(&["ICE connection state: co", "gateway"]);
    let reconnected = daemon.first_after(changed_at, &["reconnected to the gateway after"]);
    let reported = reconnected.and_then(|(_, line)| {
        line.split("reconnected to the gateway after ")
            .nth(1)?
            .split(' ')
            .next()?
            .parse::<f64>()
            .ok()
    });
    let show = |at: Option<Instant>| at.map_or("-".to_owned(), |at| ms(changed_at, at).to_string());
    println!(
        "address change {OLD_IP} → {NEW_IP}: the viewer's longest gap between decoded frames \
         {} ms; the daemon reports 'reconnected after {}' s. From the removal, in ms: removal \
         seen {}, session given up {}, relays asked {}, offer gathered {}, answer received {}, \
         ICE connected {}, daemon live again {}, viewer's next frame {}",
        gap.length.as_millis(),
        reported.map_or("-".to_owned(), |s| format!("{s:.1}")),
        show(noticed),
        show(given_up),
        show(relays),
        show(gathered),
        show(answered),
        show(ice_connected),
        show(reconnected.map(|(at, _)| *at)),
        ms(changed_at, gap.ended),
    );
    assert!(
        reconnected.is_some(),
        "the daemon reconnected on the new address"
    );
    assert!(
        gap.length < GAP_LIMIT,
        "the viewer's longest gap between frames stays under {GAP_LIMIT:?}: {:?}",
        gap.length
    );
}
